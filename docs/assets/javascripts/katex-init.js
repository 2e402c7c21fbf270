// Render the math that pymdownx.arithmatex wraps in \( \) and \[ \], and the $...$
// of example pages, with the vendored KaTeX. Material swaps pages without a reload
// (instant navigation), so render on each document$ emission, not once on load.
document$.subscribe(({ body }) => {
  renderMathInElement(body, {
    delimiters: [
      { left: "$$", right: "$$", display: true },
      { left: "\\[", right: "\\]", display: true },
      { left: "$", right: "$", display: false },
      { left: "\\(", right: "\\)", display: false },
    ],
    ignoredClasses: ["highlight", "highlight-ipynb", "jp-OutputArea"],
    throwOnError: false,
  });
});

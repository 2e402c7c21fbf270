// Material's search worker, started through this script, which rewrites the query before
// Material reads it (overrides/main.html, block "config", points the search at this file and
// names Material's worker in ?material=). Two rewrites:
//
// Chinese. Material cuts each run of Chinese characters in a query greedily into words of the
// search index, but a word may never end on the run's last character, and each piece gets a
// trailing wildcard. So 一阶矩, a word of the index, was searched as 一* whenever 一 is a word
// too, and found nearly every page. One character is appended to each run here, an end marker
// that no page contains: the run's own last character can then end a word, and the marker
// itself never becomes part of a piece. Where Material keeps a run whole (no word of the index
// starts it), the search separator (mkdocs.yml) removes the marker again.
//
// -ise and -ize. The prose spells normalisation and initialisation, the APIs and most readers
// normalization, initialization, optimizer: typed the other way, a word found nothing
// (tokenization) or only its neighbours. A word with either ending is searched by its stem,
// which Material's trailing wildcard completes to both spellings (normali*). Four letters
// before the i at least, so size, raise and advise stay as they are.
//
// Material has no public hook for the query, so this rewrites the query message, the one
// whose data is a string, before Material's listener sees it; every other message passes
// through untouched. tests/test_search.py types every glossary and heading term into the
// search box: if Material changes its messages, those tests fail.

const END_MARKER = "\u2e80"  // ⺀, a CJK radical (script Han) that no text here uses
const HAN_RUN = /\p{sc=Han}+/gu
const ISE_IZE = /\b([a-z]{4,}i)[sz](?:e|es|ed|ing|er|ers|ation|ations)\b/gi

const rewrite = query => query
  .replace(HAN_RUN, run => run + END_MARKER)
  .replace(ISE_IZE, "$1")

const listen = self.addEventListener.bind(self)
self.addEventListener = (type, listener, options) => listen(type, type !== "message"
  ? listener
  : event => {
    const message = event.data
    if (typeof message?.data !== "string")
      return listener(event)
    return listener({ data: { ...message, data: rewrite(message.data) } })
  }, options)

importScripts(new URL(self.location.href).searchParams.get("material"))

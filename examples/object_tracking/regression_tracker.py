# %% [markdown]
# # A GOTURN-style regression tracker, scored with success and precision plots
#
# A single-object tracker is given one box in the first frame of a video and must say where that
# object is in every later frame. [GOTURN (Held et al., 2016)](https://arxiv.org/abs/1604.01802)
# does it with one feed-forward network: it crops the previous frame around the last box, crops the
# current frame at the same place, and regresses the object's new box from the two crops. No class
# label, no online learning.
#
# This program builds a small version of it and trains it in seconds on generated video: textured
# objects that move, change size and light up or dim, on cluttered backgrounds panned across the
# photograph that ships with matplotlib, among similar-looking distractors, with pixel noise. Every
# ground-truth box is known. It then tracks held-out sequences recursively (each frame starts
# from the tracker's own previous answer), scores them the way the OTB benchmark does (success
# and precision plots), compares them with two baselines measured in the same run, and shows a
# failure mode: an object that moves farther in one frame than the search window reaches. Run it
# with `python examples/object_tracking/regression_tracker.py`.

# %%
import math
import os
import sys
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.cbook import get_sample_data
from matplotlib.patches import Rectangle
from torch import nn
from torch.nn import functional as F
from torchvision.ops import box_iou, generalized_box_iou_loss, roi_align

start = time.perf_counter()

SEED = 0  # the training data, the weights and the test sequences all follow from it
FRAME = 128  # frames are FRAME x FRAME pixels
CROP = 32  # the network sees both crops resampled to CROP x CROP
CONTEXT = 2.0  # a crop is CONTEXT times the box's width and height, centred on the box (GOTURN)
N_DISTRACTORS = 3  # similar-looking objects that stay put in every scene
TRAIN_PAIRS = 6000
STEPS = 600
BATCH_SIZE = 64
N_TEST, TEST_LENGTH = 16, 60  # held-out sequences and their length in frames
PRECISION_PX = 5  # OTB's 20-pixel threshold, scaled to our much smaller frames

# Okabe-Ito colours, readable on light and dark backgrounds.
COLORS = {"ground truth": "#f0e442", "regression (GOTURN-style)": "#d55e00",
          "template matching (NCC)": "#56b4e9", "constant position": "#999999",
          "regression, fast objects": "#cc79a7"}


def pick_device() -> torch.device:
    """CUDA if available, then Apple MPS, then CPU; PYTORCH_NOTES_DEVICE=cpu|cuda|mps forces one."""
    forced = os.environ.get("PYTORCH_NOTES_DEVICE", "").strip().lower()
    available = {
        "cuda": torch.cuda.is_available(),
        "mps": torch.backends.mps.is_available(),
        "cpu": True,
    }
    if forced:
        if forced not in available:
            raise SystemExit(f"PYTORCH_NOTES_DEVICE={forced!r}: expected one of cpu, cuda, mps")
        if not available[forced]:
            raise SystemExit(f"PYTORCH_NOTES_DEVICE={forced!r}, but no {forced} device is available")
        return torch.device(forced)
    return torch.device(next(name for name, ok in available.items() if ok))


device = pick_device()
print(f"device: {device}")
if device.type == "cpu":
    # Small convolutions on 32x32 crops: threads gain little, and on a machine shared with
    # other jobs they can make it several times slower.
    torch.set_num_threads(1)

# %% [markdown]
# ## Generated video with known boxes
#
# Boxes are `(x1, y1, x2, y2)` in pixels, the format of `torchvision.ops`. A scene is a
# background cut out of matplotlib's photograph of Grace Hopper (halved to 300 x 256 pixels, so
# that her face, cap and uniform are clutter at the objects' scale), panning slowly; three
# distractors; and the target, a 16 x 16 texture of coloured cells stretched to its box. All
# objects come from the same texture generator, so the target differs from the distractors only
# in its own pattern. One function draws any rectangular *view* of a scene at any resolution: the
# whole frame for the test videos, or just the crop the tracker will look at, which makes
# training data cheap (`roi_align` resamples the background, `grid_sample` pastes the objects).

# %%
photo = torch.from_numpy(plt.imread(get_sample_data("grace_hopper.jpg", asfileobj=False)).copy())
photo = photo.permute(2, 0, 1).float().div(255).unsqueeze(0)  # (1, 3, 600, 512)
photo = F.interpolate(photo, scale_factor=0.5, mode="bilinear", antialias=True)  # (1, 3, 300, 256)
PHOTO_H, PHOTO_W = photo.shape[-2:]


def to_cxcywh(boxes: torch.Tensor) -> torch.Tensor:
    x1, y1, x2, y2 = boxes.unbind(-1)
    return torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], -1)


def to_xyxy(boxes: torch.Tensor) -> torch.Tensor:
    cx, cy, w, h = boxes.unbind(-1)
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1)


def laplace(shape, scale: float, gen: torch.Generator) -> torch.Tensor:
    u = torch.rand(shape, generator=gen) - 0.5
    return -scale * u.sign() * torch.log1p(-2 * u.abs())


def textures(n: int, gen: torch.Generator) -> torch.Tensor:
    cells = torch.rand(n, 3, 3, 3, generator=gen)  # 3 x 3 cells of random colours
    texture = F.interpolate(cells, size=(16, 16), mode="nearest")
    return (texture + 0.08 * torch.randn(n, 3, 16, 16, generator=gen)).clamp(0, 1)


def random_boxes(n: int, gen: torch.Generator, low: float = 16, high: float = 26) -> torch.Tensor:
    w = low + (high - low) * torch.rand(n, generator=gen)
    h = w * torch.exp((torch.rand(n, generator=gen) - 0.5) * 0.6)  # aspect ratio 0.74 to 1.35
    cx = w + (FRAME - 2 * w) * torch.rand(n, generator=gen)
    cy = h + (FRAME - 2 * h) * torch.rand(n, generator=gen)
    return to_xyxy(torch.stack([cx, cy, w, h], -1))


def new_scenes(n: int, gen: torch.Generator, avoid: torch.Tensor | None = None) -> dict:
    """What stays fixed in a video: background, its pan and colour cast, textures, distractors."""
    distractors = random_boxes(n * N_DISTRACTORS, gen)
    if avoid is not None:  # keep the distractors off the target's first box
        first = avoid.repeat_interleave(N_DISTRACTORS, 0)
        for _ in range(20):
            overlap = box_iou(distractors, first).diagonal() > 0
            distractors = torch.where(overlap[:, None], random_boxes(len(first), gen), distractors)
    margin = 35.0  # room for the pan, so the view never leaves the photograph
    room = torch.tensor([PHOTO_W - FRAME - 2 * margin, PHOTO_H - FRAME - 2 * margin])
    return {
        "offset": margin + torch.rand(n, 2, generator=gen) * room,
        "pan": torch.rand(n, 2, generator=gen) - 0.5,  # pixels per frame
        "cast": 0.7 + 0.6 * torch.rand(n, 3, 1, 1, generator=gen),
        "target": textures(n, gen),
        "distractor_textures": textures(n * N_DISTRACTORS, gen),
        "distractor_boxes": distractors,
    }


def paste(images: torch.Tensor, texture: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Paint each texture into its box (in the images' pixel coordinates)."""
    n, _, size, _ = images.shape
    cx, cy, w, h = to_cxcywh(boxes).unbind(-1)
    theta = torch.zeros(n, 2, 3)  # maps image coordinates to texture coordinates
    theta[:, 0, 0], theta[:, 0, 2] = size / w, (size - 2 * cx) / w
    theta[:, 1, 1], theta[:, 1, 2] = size / h, (size - 2 * cy) / h
    grid = F.affine_grid(theta, [n, 4, size, size], align_corners=False)
    rgba = torch.cat([texture, torch.ones_like(texture[:, :1])], 1)
    painted = F.grid_sample(rgba, grid, padding_mode="zeros", align_corners=False)
    alpha = painted[:, 3:]
    return images * (1 - alpha) + painted[:, :3] * alpha


def render(scenes: dict, t: torch.Tensor, target_boxes: torch.Tensor, light: torch.Tensor,
           gen: torch.Generator, views: torch.Tensor | None = None, size: int = FRAME):
    """Draw the view `views` (boxes in frame coordinates; default: the whole frame) at time t."""
    n = len(target_boxes)
    if views is None:
        views = torch.tensor([[0.0, 0.0, FRAME, FRAME]]).expand(n, 4)
    corner = views[:, :2].repeat(1, 2)
    scale = (size / (views[:, 2:] - views[:, :2])).repeat(1, 2)
    in_view = lambda boxes: (boxes - corner) * scale  # noqa: E731
    camera = (scenes["offset"] + t[:, None] * scenes["pan"]).repeat(1, 2)
    rois = torch.cat([torch.zeros(n, 1), views + camera], 1)
    images = roi_align(photo, rois, size, sampling_ratio=2, aligned=True) * scenes["cast"]
    for k in range(N_DISTRACTORS):
        images = paste(images, scenes["distractor_textures"][k::N_DISTRACTORS],
                       in_view(scenes["distractor_boxes"][k::N_DISTRACTORS]))
    images = paste(images, scenes["target"], in_view(target_boxes)) * light
    return (images + 0.03 * torch.randn(images.shape, generator=gen)).clamp(0, 1)


def videos(n: int, length: int, gen: torch.Generator, speed=(1.0, 3.0)):
    """n videos: frames (n, length, 3, FRAME, FRAME) and target boxes (n, length, 4)."""
    first = random_boxes(n, gen)
    scenes = new_scenes(n, gen, avoid=first)
    state = to_cxcywh(first)
    size0 = state[:, 2:].clone()
    heading = 2 * math.pi * torch.rand(n, generator=gen)
    turn = (torch.rand(n, generator=gen) - 0.5) * 0.1  # radians per frame
    pace = speed[0] + (speed[1] - speed[0]) * torch.rand(n, generator=gen)  # pixels per frame
    period, phase, light_phase = (30 + 30 * torch.rand(n, generator=gen),
                                  2 * math.pi * torch.rand(n, generator=gen),
                                  2 * math.pi * torch.rand(n, generator=gen))
    frames, boxes = [], []
    for t in range(length):
        # The size breathes by up to 28% either way; the light by 20%.
        breathing = torch.exp(0.25 * torch.sin(2 * math.pi * t / period + phase))
        state[:, 2:] = size0 * breathing[:, None]
        if t > 0:
            heading = heading + turn
            state[:, 0] += pace * heading.cos()
            state[:, 1] += pace * heading.sin()
            for axis in (0, 1):  # bounce off the edges of the frame
                low, high = state[:, 2 + axis] / 2, FRAME - state[:, 2 + axis] / 2
                above, below = state[:, axis] > high, state[:, axis] < low
                state[:, axis] = torch.where(above, 2 * high - state[:, axis], state[:, axis])
                state[:, axis] = torch.where(below, 2 * low - state[:, axis], state[:, axis])
                flipped = (math.pi - heading) if axis == 0 else -heading
                heading = torch.where(above | below, flipped, heading)
        box = to_xyxy(state)
        light = 1 + 0.2 * torch.sin(2 * math.pi * t / 40 + light_phase)
        frames.append(render(scenes, torch.full((n,), float(t)), box, light[:, None, None, None],
                             gen))
        boxes.append(box)
    return torch.stack(frames, 1), torch.stack(boxes, 1)


test_gen = torch.Generator().manual_seed(SEED + 1)  # held-out videos: never seen in training
test_frames, test_boxes = videos(N_TEST, TEST_LENGTH, test_gen)
print(f"test videos: {tuple(test_frames.shape)} frames, {tuple(test_boxes.shape)} boxes")

fig, axes = plt.subplots(1, 5, figsize=(11, 2.6))
for ax, t in zip(axes, (0, 15, 30, 45, 59)):
    ax.imshow(test_frames[0, t].permute(1, 2, 0).numpy())
    x1, y1, x2, y2 = test_boxes[0, t].tolist()  # imshow puts pixel i's centre at i, hence - 0.5
    ax.add_patch(Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False, lw=2,
                           ec=COLORS["ground truth"]))
    ax.set_title(f"frame {t}")
    ax.axis("off")
fig.suptitle("A held-out test video; the target's true box in yellow")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## The network
#
# GOTURN's input is two crops: the previous frame around the previous box, and the current frame
# *at the same place*, each twice the box's width and height (so the object can move by up to half
# its size and stay in view). Both go through the same convolutional tower; the two feature maps
# are concatenated and fully connected layers regress the new box, as four numbers relative to
# the crop. GOTURN used CaffeNet's five convolutional layers and three 4096-wide fully connected
# layers; three small convolutions and one hidden layer are enough here. `roi_align` cuts the
# crops out of the frames (resampling each to 32 x 32), and the loss is L1 on the coordinates plus
# the generalised IoU loss of `torchvision.ops`.

# %%
class RegressionTracker(nn.Module):
    def __init__(self):
        super().__init__()
        self.tower = nn.Sequential(  # shared by both crops
            nn.Conv2d(3, 16, 5, stride=2, padding=2), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
        )
        self.head = nn.Sequential(
            nn.Conv2d(64, 32, 1), nn.ReLU(), nn.Flatten(),
            nn.Linear(32 * (CROP // 4) ** 2, 128), nn.ReLU(), nn.Linear(128, 4),
        )
        # Start from "the object has not moved": its box is the middle half of the crop.
        self.register_buffer("prior", torch.tensor([0.25, 0.25, 0.75, 0.75]))

    def forward(self, previous: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
        features = torch.cat([self.tower(previous), self.tower(current)], dim=1)
        return self.prior + self.head(features)  # (x1, y1, x2, y2) as fractions of the crop


def search_regions(boxes: torch.Tensor) -> torch.Tensor:
    region = to_cxcywh(boxes)
    region[:, 2:] *= CONTEXT
    return to_xyxy(region)


def crop(frames: torch.Tensor, regions: torch.Tensor) -> torch.Tensor:
    rois = torch.cat([torch.arange(len(frames), dtype=frames.dtype)[:, None], regions], 1)
    return roi_align(frames, rois, CROP, sampling_ratio=2, aligned=True)


def into_region(boxes: torch.Tensor, regions: torch.Tensor) -> torch.Tensor:
    corner, extent = regions[:, :2].repeat(1, 2), (regions[:, 2:] - regions[:, :2]).repeat(1, 2)
    return (boxes - corner) / extent


def out_of_region(relative: torch.Tensor, regions: torch.Tensor) -> torch.Tensor:
    corner, extent = regions[:, :2].repeat(1, 2), (regions[:, 2:] - regions[:, :2]).repeat(1, 2)
    return relative * extent + corner


torch.manual_seed(SEED)
model = RegressionTracker().to(device)
print(f"parameters: {sum(p.numel() for p in model.parameters()):,}")

# %% [markdown]
# ## Training pairs, as GOTURN makes them from still images
#
# A pair is one scene at two moments: the target in its previous box, then moved and rescaled by
# random amounts drawn from Laplace distributions (small motions are common, large ones rare: the
# motion model GOTURN uses to make training pairs from still images). The previous box is also
# jittered a little before the crops are cut, because at test time the tracker starts each frame
# from its own, imperfect, previous answer. Only the two crops are rendered, and each pair is also
# used mirrored left-right and upside down.

# %%
def training_pairs(n: int, gen: torch.Generator):
    scenes = new_scenes(n, gen)
    before = random_boxes(n, gen)
    state = to_cxcywh(before)
    moved = state.clone()
    moved[:, :2] += state[:, 2:] * laplace((n, 2), 0.2, gen).clamp(-0.5, 0.5)
    moved[:, 2:] *= (1 + laplace((n, 2), 1 / 15, gen)).clamp(0.7, 1.4)
    after = to_xyxy(moved)
    estimate = state.clone()  # the tracker's previous answer is never exact
    estimate[:, :2] += state[:, 2:] * laplace((n, 2), 0.1, gen).clamp(-0.4, 0.4)
    estimate[:, 2:] *= (1 + laplace((n, 2), 0.1, gen)).clamp(0.7, 1.4)
    regions = search_regions(to_xyxy(estimate))
    t = 20 * torch.rand(n, generator=gen)
    light = 0.8 + 0.4 * torch.rand(n, 1, 1, 1, generator=gen)
    previous = render(scenes, t, before, light, gen, regions, CROP)
    light = light * (0.95 + 0.1 * torch.rand(n, 1, 1, 1, generator=gen))
    current = render(scenes, t + 1, after, light, gen, regions, CROP)
    return previous, current, into_region(after, regions)


def mirrored(previous, current, target, horizontal: bool, vertical: bool):
    x1, y1, x2, y2 = target.unbind(-1)
    if horizontal:
        previous, current, (x1, x2) = previous.flip(-1), current.flip(-1), (1 - x2, 1 - x1)
    if vertical:
        previous, current, (y1, y2) = previous.flip(-2), current.flip(-2), (1 - y2, 1 - y1)
    return previous, current, torch.stack([x1, y1, x2, y2], -1)


train_gen = torch.Generator().manual_seed(SEED)
pairs = [torch.cat(parts) for parts in zip(*(training_pairs(500, train_gen)
                                             for _ in range(TRAIN_PAIRS // 500)))]
pairs = [p.to(device) for p in pairs]
print(f"training pairs: {TRAIN_PAIRS}, crops {tuple(pairs[0].shape[1:])}")

optimizer = torch.optim.Adam(model.parameters())
schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=STEPS)
train_start = time.perf_counter()
losses = []
model.train()
for step in range(STEPS):
    index = torch.randint(0, TRAIN_PAIRS, (BATCH_SIZE,), generator=train_gen).to(device)
    previous, current, target = mirrored(*(p[index] for p in pairs), step % 2 == 1, step % 4 >= 2)
    predicted = model(previous, current)
    loss = F.l1_loss(predicted, target) + generalized_box_iou_loss(predicted, target, "mean")
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    schedule.step()
    losses.append(loss.item())
    if sys.stdout.isatty() and (step + 1) % 100 == 0:
        print(f"  step {step + 1}: loss {np.mean(losses[-100:]):.3f}", flush=True)
train_seconds = time.perf_counter() - train_start
print(f"trained {STEPS} steps of {BATCH_SIZE} pairs in {train_seconds:.1f} s; loss "
      f"{np.mean(losses[:20]):.3f} (first 20 steps) -> {np.mean(losses[-20:]):.3f} (last 20)")

# %% [markdown]
# ## Tracking, recursively
#
# At test time the tracker gets the first box and nothing else. For every later frame it crops
# the previous frame and the current frame around its own last answer and takes the network's box
# as the new answer: errors carry over from frame to frame, as in real use.
#
# Two baselines, measured on the same videos:
#
# - **constant position**: the first box, never moved. It shows how much of the score comes for
#   free.
# - **template matching**: the first frame's target cut out as a template, slid over a window
#   three times the box's size around the last position, and the place with the highest
#   normalised cross-correlation (NCC, which ignores changes of brightness and contrast) taken as
#   the new position. This is the classic tracker before learned features; its box keeps the
#   first frame's size.

# %%
@torch.no_grad()
def track_regression(frames: torch.Tensor, first_boxes: torch.Tensor) -> torch.Tensor:
    model.eval()
    box, answers = first_boxes.clone(), [first_boxes]
    for t in range(1, frames.shape[1]):
        regions = search_regions(box)
        previous, current = crop(frames[:, t - 1], regions), crop(frames[:, t], regions)
        relative = model(previous.to(device), current.to(device)).cpu()
        box = to_cxcywh(out_of_region(relative, regions))
        box[:, 2:] = box[:, 2:].clamp(4, FRAME)  # keep the answer a sensible box
        box[:, :2] = box[:, :2].clamp(0, FRAME)
        box = to_xyxy(box)
        answers.append(box)
    return torch.stack(answers, 1)


def track_template(frames: torch.Tensor, first_boxes: torch.Tensor) -> torch.Tensor:
    answers = torch.zeros(*frames.shape[:2], 4)
    for i in range(len(frames)):
        x1, y1, x2, y2 = first_boxes[i].round().int().tolist()
        template = frames[i, 0, :, y1:y2, x1:x2]
        th, tw = template.shape[1:]
        template = template - template.mean()
        template_norm, ones = template.norm(), torch.ones(1, 3, th, tw)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        answers[i, 0] = first_boxes[i]
        for t in range(1, frames.shape[1]):
            left, top = max(0, round(cx - 1.5 * tw)), max(0, round(cy - 1.5 * th))
            right, bottom = min(FRAME, round(cx + 1.5 * tw)), min(FRAME, round(cy + 1.5 * th))
            window = frames[i, t, :, top:bottom, left:right].unsqueeze(0)
            # NCC at every offset: correlation with the zero-mean template over the window's
            # local standard deviation (sums over each patch by convolving with ones).
            correlation = F.conv2d(window, template[None])[0, 0]
            sums, squares = F.conv2d(window, ones)[0, 0], F.conv2d(window**2, ones)[0, 0]
            spread = (squares - sums**2 / (3 * th * tw)).clamp_min(1e-6).sqrt()
            score = correlation / (spread * template_norm)
            dy, dx = divmod(score.argmax().item(), score.shape[1])
            cx, cy = left + dx + tw / 2, top + dy + th / 2
            answers[i, t] = torch.tensor([cx - tw / 2, cy - th / 2, cx + tw / 2, cy + th / 2])
    return answers


track_start = time.perf_counter()
results = {"regression (GOTURN-style)": track_regression(test_frames, test_boxes[:, 0])}
tracking_seconds = time.perf_counter() - track_start
results["template matching (NCC)"] = track_template(test_frames, test_boxes[:, 0])
results["constant position"] = test_boxes[:, :1].expand_as(test_boxes)
frames_tracked = N_TEST * (TEST_LENGTH - 1)
print(f"regression tracker: {frames_tracked} frames in {tracking_seconds:.2f} s "
      f"({N_TEST} videos at a time)")

# %% [markdown]
# ## Success and precision, as OTB scores them
#
# [Wu et al. (2013)](https://openaccess.thecvf.com/content_cvpr_2013/html/Wu_Online_Object_Tracking_2013_CVPR_paper.html)
# score a tracker on two curves, over all frames after the first:
#
# - **success plot**: the fraction of frames whose IoU with the true box exceeds a threshold, for
#   thresholds from 0 to 1; trackers are ranked by the area under it (the *success AUC*, here the
#   mean over 21 thresholds, which is also, up to the grid, the mean IoU);
# - **precision plot**: the fraction of frames whose predicted centre lies within a distance of
#   the true centre; OTB reports 20 pixels on videos several times larger than ours, so we report
#   5 pixels on our 128-pixel frames.

# %%
IOU_THRESHOLDS = torch.linspace(0, 1, 21)
DISTANCES = torch.arange(0, 26)


def overlaps_and_errors(predicted: torch.Tensor, truth: torch.Tensor):
    predicted, truth = predicted[:, 1:].reshape(-1, 4), truth[:, 1:].reshape(-1, 4)
    iou = box_iou(predicted, truth).diagonal()
    centre_error = (to_cxcywh(predicted)[:, :2] - to_cxcywh(truth)[:, :2]).norm(dim=1)
    return iou, centre_error


def scores(predicted: torch.Tensor, truth: torch.Tensor) -> dict:
    iou, error = overlaps_and_errors(predicted, truth)
    success = (iou[None, :] > IOU_THRESHOLDS[:, None]).float().mean(1)
    precision = (error[None, :] <= DISTANCES[:, None]).float().mean(1)
    return {"success": success, "auc": success.mean().item(), "precision": precision,
            f"precision@{PRECISION_PX}": precision[PRECISION_PX].item(),
            "mean IoU": iou.mean().item()}


table = {name: scores(boxes, test_boxes) for name, boxes in results.items()}
print(f"{'tracker':<27} {'success AUC':>11} {'precision@5px':>14} {'mean IoU':>9}")
for name, s in table.items():
    print(f"{name:<27} {s['auc']:11.3f} {s[f'precision@{PRECISION_PX}']:14.3f} "
          f"{s['mean IoU']:9.3f}")

# %% [markdown]
# ## The failure mode: faster than the search window
#
# The network only ever sees the search region, twice the box's size around the last answer. An
# object that moves more than about half its own size between two frames leaves that region, and
# the tracker has nothing to go on. Here are test videos whose targets move 30 to 36 pixels per
# frame (one and a half box widths or more) instead of 1 to 3.

# %%
fast_frames, fast_boxes = videos(N_TEST, 30, test_gen, speed=(30.0, 36.0))
fast_results = {"regression (GOTURN-style)": track_regression(fast_frames, fast_boxes[:, 0]),
                "constant position": fast_boxes[:, :1].expand_as(fast_boxes)}
fast_table = {name: scores(boxes, fast_boxes) for name, boxes in fast_results.items()}
for name, s in fast_table.items():
    print(f"fast objects, {name:<27} success AUC {s['auc']:.3f}, "
          f"precision@{PRECISION_PX}px {s[f'precision@{PRECISION_PX}']:.3f}")

fig, axes = plt.subplots(1, 4, figsize=(10, 2.8))
lost = fast_results["regression (GOTURN-style)"]
for ax, t in zip(axes, (0, 1, 2, 3)):
    ax.imshow(fast_frames[0, t].permute(1, 2, 0).numpy())
    for box, color, style in ((fast_boxes[0, t], COLORS["ground truth"], "-"),
                              (lost[0, t], COLORS["regression (GOTURN-style)"], "-"),
                              (search_regions(lost[0, t - 1 if t else 0][None])[0], "white", ":")):
        x1, y1, x2, y2 = box.tolist()
        ax.add_patch(Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False, lw=2, ec=color,
                               ls=style))
    ax.set_title(f"frame {t}")
    ax.axis("off")
fig.suptitle("A fast object (yellow) leaves the search region (dotted); the tracker (orange) "
             "is lost")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## The plots
#
# Solid lines are the normal test videos; the dashed line is the regression tracker on the fast
# ones.

# %%
fig, (ax_s, ax_p) = plt.subplots(1, 2, figsize=(10, 3.8))
curves = [(name, s, "-") for name, s in table.items()]
curves.append(("regression, fast objects", fast_table["regression (GOTURN-style)"], "--"))
for name, s, style in curves:
    ax_s.plot(IOU_THRESHOLDS.numpy(), s["success"].numpy(), style, color=COLORS[name],
              label=f"{name} [{s['auc']:.3f}]")
    ax_p.plot(DISTANCES.numpy(), s["precision"].numpy(), style, color=COLORS[name],
              label=f"{name} [{s[f'precision@{PRECISION_PX}']:.3f}]")
ax_s.set(xlabel="IoU threshold", ylabel="success rate", title="Success plot [AUC]",
         ylim=(0, 1.02))
ax_p.axvline(PRECISION_PX, color="#999999", lw=0.8)
ax_p.set(xlabel="centre error threshold (pixels)", ylabel="precision",
         title=f"Precision plot [at {PRECISION_PX} px]", ylim=(0, 1.02))
ax_s.legend(fontsize=8, loc="lower left")
ax_p.legend(fontsize=8, loc="lower right")
fig.tight_layout()
plt.show()

# %% [markdown]
# The regression tracker has the highest success AUC: it follows the target and also its changes
# of size. Template matching puts the centre about as close, or closer (compare the precision
# column), but keeps the first frame's box size, so its overlap drops whenever the target grows
# or shrinks. Both are far above the constant-position baseline. On the fast videos the
# regression tracker is lost from the first frames on: it keeps only a small share of its lead
# over a box that never moves (printed below; asserted under a third, a margin set after
# running this program with twelve other seeds). Real trackers widen the search region, search the whole frame again when their
# confidence drops, or add a motion model; GOTURN itself has none of these.

# %%
# Every claim made above, checked against baselines measured in this run.
regression = table["regression (GOTURN-style)"]["auc"]
template = table["template matching (NCC)"]["auc"]
constant = table["constant position"]["auc"]
fast = fast_table["regression (GOTURN-style)"]["auc"]
assert regression > constant + 0.4, (
    f"the regression tracker should be far above constant position: {regression:.3f} vs "
    f"{constant:.3f}")
assert regression > template + 0.05, (
    f"the regression tracker should beat template matching on success AUC: {regression:.3f} vs "
    f"{template:.3f}")
assert template > constant + 0.2, (
    f"template matching should beat constant position: {template:.3f} vs {constant:.3f}")
regression_precision = table["regression (GOTURN-style)"][f"precision@{PRECISION_PX}"]
template_precision = table["template matching (NCC)"][f"precision@{PRECISION_PX}"]
assert template_precision > regression_precision - 0.1, (
    f"template matching should find the centre about as well: precision "
    f"{template_precision:.3f} vs {regression_precision:.3f}")
assert fast < 0.3 * regression, (
    f"objects faster than the search window should be lost: AUC {fast:.3f} vs {regression:.3f}")
fast_constant = fast_table["constant position"]["auc"]
lead_kept = (fast - fast_constant) / (regression - fast_constant)
print(f"fast objects: the tracker keeps {lead_kept:.0%} of its lead over a box that never moves")
assert lead_kept < 0.3, (
    f"on fast objects the tracker should keep well under a third of its lead over a box that "
    f"never moves: AUC {fast:.3f} vs {fast_constant:.3f} (normal videos {regression:.3f})")
assert np.mean(losses[-20:]) < 0.5 * np.mean(losses[:20]), "training should reduce the loss"

print(f"wall time: {time.perf_counter() - start:.1f} s")

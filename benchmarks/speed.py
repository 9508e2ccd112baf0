"""Speed benchmark: our trainer, activations, input pipeline and transforms against their references.

    .venv/bin/python benchmarks/speed.py [--quick] [--sections trainer,activations,...] [--json out.json]

Sections (default: all but end_to_end, which trains whole profiles and is opt-in):
  trainer         our Trainer against a reference-style loop (torchvision per-image transforms in a
                  DataLoader, eager model, RTSU in plain torch ops), WRN-16-1 + RTSU, one epoch each
  activations     one training step of WRN-16-1 with each activation: time and memory saved for backward
  pipeline        our batched input pipeline as a share of the training step; the per-image DataLoader alone
  transforms      batched torch generating functions against the per-image scipy calls
  paper_estimate  each profile's work (rtsu_lib.cost) divided by the measured images per second
  end_to_end      wall time of each figure notebook at --profiles (default smoke), in a scratch results store

The things compared are timed in turns (A, B, A, B, ...) and reported as medians and as the median of
the per-turn ratios, which is what to read when other jobs share the cores. --quick runs every
section on tiny sizes (a smoke test of the script, not a measurement).
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from rtsu_lib import cost
from rtsu_lib.activations import with_reference_rtsu
from rtsu_lib.models import count_parameters, create_model
from rtsu_lib.training import (TrainSettings, Trainer, apply_flip_and_crop, choose_device,
                               sample_flip_and_crop)
from rtsu_lib.transforms import TRANSFORMS, create_transform, params_of_image

PROJECT = Path(__file__).resolve().parent.parent
ACTIVATIONS = ("rtsu", "rtsu_reference", "crelu", "brelu", "relu")
DEFAULT_SECTIONS = ("trainer", "activations", "pipeline", "transforms", "paper_estimate")
ALL_SECTIONS = DEFAULT_SECTIONS + ("end_to_end",)
MEAN, STD = (0.49, 0.48, 0.45), (0.25, 0.24, 0.26)  # CIFAR-like, for the reference pipeline


@dataclass(frozen=True)
class Sizes:
    batch_sizes: tuple = (64, 128)
    train_images: int = 512  # images per timed epoch in the trainer section
    epochs: int = 5  # timed epochs per side and batch size
    steps: int = 20  # timed steps per activation
    transform_images: int = 10_000
    depth: int = 16  # WRN-16-1, the paper's model


FAST = Sizes(batch_sizes=(8,), train_images=16, epochs=1, steps=1, transform_images=8, depth=10)


# --- helpers --------------------------------------------------------------------------------------

def timed(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def alternate(functions: dict, rounds: int) -> dict:
    """Seconds of each function over ``rounds`` turns, the functions taking turns within a round."""
    seconds = {name: [] for name in functions}
    for _ in range(rounds):
        for name, function in functions.items():
            seconds[name].append(timed(function))
    return seconds


def paired_ratio(numerator: list, denominator: list) -> float:
    return statistics.median(a / b for a, b in zip(numerator, denominator))


def machine_facts() -> dict:
    device = choose_device()
    facts = {"torch": torch.__version__, "threads": torch.get_num_threads(), "device": str(device),
             "cpu_count": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
             "load_average_start": os.getloadavg(), "git_commit": _git_commit()}
    if device.type == "cuda":
        facts["device_name"] = torch.cuda.get_device_name(device)
    return facts


def _git_commit():
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT, capture_output=True, text=True)
    return done.stdout.strip() or None


def fake_cifar(count, seed=0):
    """uint8 images (N, 32, 32, 3) and labels: content does not change the speed."""
    generator = np.random.default_rng(seed)
    return generator.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8), generator.integers(0, 10, count)


def to_model_space(images, device):
    """(N, 3, 32, 32) float, featurewise normalised, on ``device``: what our trainer holds in memory."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255)
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous().to(device)


def build_model(activation, device, depth, channels_last=True):
    model = create_model("wrn", depth=depth, widen_factor=1, activation=activation.replace("_reference", ""), seed=0)
    if activation.endswith("_reference"):
        model = with_reference_rtsu(model)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    return model.to(device, memory_format=memory_format).train()


def sgd(model):
    return torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)


# --- 1. trainer against a reference-style loop ---------------------------------------------------

class ReferenceCIFAR(torch.utils.data.Dataset):
    """What public reproductions use: a PIL image per index through torchvision's per-image transforms."""

    def __init__(self, images, labels):
        from torchvision import transforms as T

        self.images, self.labels = images, labels
        self.transform = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(),
                                    T.Normalize(MEAN, STD)])

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        from PIL import Image

        return self.transform(Image.fromarray(self.images[index])), int(self.labels[index])


def reference_epoch(model, optimizer, loader):
    for x, y in loader:
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def bench_trainer(sizes, device):
    images, labels = fake_cifar(sizes.train_images)
    x, y = to_model_space(images, device), torch.from_numpy(labels).to(device)
    results = {}
    for batch_size in sizes.batch_sizes:
        loader = torch.utils.data.DataLoader(ReferenceCIFAR(images, labels), batch_size=batch_size, shuffle=True,
                                             num_workers=0)
        reference = build_model("rtsu_reference", "cpu", sizes.depth, channels_last=False)
        reference_optimizer = sgd(reference)
        settings = TrainSettings(num_epochs=1, batch_size=batch_size, lr=0.01, weight_decay=5e-4, augment=True)
        trainer = Trainer(build_model("rtsu", device, sizes.depth), settings, device=device)
        sides = {"reference": lambda: reference_epoch(reference, reference_optimizer, loader),
                 "ours": lambda: trainer._train_epoch(0, x, y)}
        alternate(sides, 1)  # warm-up
        seconds = alternate(sides, sizes.epochs)
        results[f"batch_{batch_size}"] = {
            "reference_img_per_s": len(images) / statistics.median(seconds["reference"]),
            "ours_img_per_s": len(images) / statistics.median(seconds["ours"]),
            "speedup": paired_ratio(seconds["reference"], seconds["ours"]),
            "seconds": seconds, "images_per_epoch": len(images)}
    return results


# --- 2. activation cost ---------------------------------------------------------------------------

def saved_for_backward_bytes(model, x, y):
    """Bytes of the distinct tensors autograd keeps for backward after one forward (parameters excluded):
    the memory that training holds at its peak, at the end of the forward, beyond weights and optimizer."""
    parameters = {p.untyped_storage().data_ptr() for p in model.parameters()}
    storages = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in parameters:
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss = F.cross_entropy(model(x), y)
    loss.backward()
    model.zero_grad(set_to_none=True)
    return sum(storages.values())


def bench_activations(sizes, device):
    batch_size = sizes.batch_sizes[0]
    x = torch.randn(batch_size, 3, 32, 32, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch_size,), device=device)
    models = {name: build_model(name, device, sizes.depth) for name in ACTIVATIONS}
    optimizers = {name: sgd(model) for name, model in models.items()}

    def step(name):
        loss = F.cross_entropy(models[name](x), y)
        optimizers[name].zero_grad(set_to_none=True)
        loss.backward()
        optimizers[name].step()
        _synchronize(device)

    steps = {name: (lambda name=name: step(name)) for name in ACTIVATIONS}
    alternate(steps, 2)  # warm-up
    seconds = alternate(steps, sizes.steps)
    results = {"batch_size": batch_size}
    for name in ACTIVATIONS:
        saved = saved_for_backward_bytes(models[name], x, y)
        results[name] = {"step_ms": 1000 * statistics.median(seconds[name]),
                         "img_per_s": batch_size / statistics.median(seconds[name]),
                         "time_vs_crelu": paired_ratio(seconds[name], seconds["crelu"]),
                         "saved_for_backward_mib": saved / 2 ** 20,
                         "parameters": count_parameters(models[name])}
    crelu_saved = results["crelu"]["saved_for_backward_mib"]
    for name in ACTIVATIONS:
        results[name]["memory_vs_crelu"] = results[name]["saved_for_backward_mib"] / crelu_saved
    return results


def _synchronize(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


# --- 3. pipeline overhead -------------------------------------------------------------------------

def bench_pipeline(sizes, device):
    """Per batch, exactly what the trainer does before the model: index, flip and crop, channels_last;
    plus the epoch's draw of order and augmentation spread over its batches."""
    batch_size = sizes.batch_sizes[0]
    images, labels = fake_cifar(max(sizes.train_images, 2 * batch_size))
    x_all, y_all = to_model_space(images, device), torch.from_numpy(labels).to(device)
    model, generator = build_model("rtsu", device, sizes.depth), torch.Generator().manual_seed(0)
    optimizer = sgd(model)
    batches = len(x_all) // batch_size
    state = {}

    def draw_epoch():
        order = torch.randperm(len(x_all), generator=generator)
        draws = [sample_flip_and_crop(batch_size, generator) for _ in range(batches)]
        state["order"], state["draws"] = order.to(device), [(o.to(device), f.to(device)) for o, f in draws]

    def prepare(number=0):
        index = state["order"][number * batch_size:(number + 1) * batch_size]
        offsets, flips = state["draws"][number]
        state["x"] = apply_flip_and_crop(x_all[index], offsets, flips).contiguous(memory_format=torch.channels_last)
        state["y"] = y_all[index]
        _synchronize(device)

    def step():
        loss = F.cross_entropy(model(state["x"]), state["y"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        _synchronize(device)

    draw_seconds = statistics.median(timed(draw_epoch) for _ in range(3)) / batches
    prepare()
    seconds = alternate({"prepare": prepare, "step": step}, max(sizes.steps, 3))
    prepare_s = statistics.median(seconds["prepare"]) + draw_seconds
    step_s = statistics.median(seconds["step"])
    loader = torch.utils.data.DataLoader(ReferenceCIFAR(images, labels), batch_size=batch_size, shuffle=True)
    loader_s = timed(lambda: [None for _ in loader]) / len(loader)
    return {"batch_size": batch_size, "ours_ms_per_batch": 1000 * prepare_s, "step_ms": 1000 * step_s,
            "ours_share_of_step": prepare_s / (prepare_s + step_s),
            "ours_img_per_s_alone": batch_size / prepare_s,
            "reference_dataloader_ms_per_batch": 1000 * loader_s,
            "reference_dataloader_img_per_s_alone": batch_size / loader_s,
            "reference_share_of_step": loader_s / (loader_s + step_s)}


# --- 4. generating functions ----------------------------------------------------------------------

def bench_transforms(sizes, device):
    count = sizes.transform_images
    x = torch.rand(count, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    images = x.numpy()
    results = {}
    for name in TRANSFORMS:
        transform = create_transform(name)
        params = transform.sample(count, torch.Generator().manual_seed(1))
        device_params = _to_device(params, device)
        x_device = x.to(device)
        torch_out = transform.apply(x_device, device_params).cpu().numpy()
        torch_s = statistics.median(timed(lambda: (transform.apply(x_device, device_params), _synchronize(device)))
                                    for _ in range(3))
        start, max_diff = time.perf_counter(), 0.0
        for index in range(count):
            out = transform.reference(images[index], params_of_image(params, index))
            max_diff = max(max_diff, float(np.abs(out - torch_out[index]).max()))
        scipy_s = time.perf_counter() - start
        results[name] = {"torch_img_per_s": count / torch_s, "scipy_img_per_s": count / scipy_s,
                         "speedup": scipy_s / torch_s, "max_abs_diff": max_diff, "images": count}
        if name in ("affine", "rotation"):
            results[name]["paper_order_3"] = _against_order_3(images, params, torch_out, torch_s)
    return results


def _against_order_3(images, params, torch_out, torch_s):
    """The paper's call (spline order 3), which grid_sample cannot reproduce: speed and how far apart."""
    from scipy.ndimage import affine_transform

    start, max_diff = time.perf_counter(), 0.0
    for index, image in enumerate(images):
        matrix = params["matrix"][index].numpy()
        offset = (np.array(image.shape[1:]) - 1) / 2 - matrix @ ((np.array(image.shape[1:]) - 1) / 2)
        out = np.stack([affine_transform(channel, matrix, offset=offset, mode="constant") for channel in image])
        max_diff = max(max_diff, float(np.abs(out - torch_out[index]).max()))
    scipy_s = time.perf_counter() - start
    return {"scipy_img_per_s": len(images) / scipy_s, "speedup": scipy_s / torch_s, "max_abs_diff": max_diff}


def _to_device(params, device):
    return {key: _to_device(value, device) if isinstance(value, dict) else value.to(device)
            for key, value in params.items()}


# --- 5. end to end and the paper estimate ---------------------------------------------------------

def bench_end_to_end(profiles):
    """Wall seconds of ``rtsu run`` per figure notebook, each profile in a fresh results store."""
    from rtsu_lib.cli import Project, profile_notebooks

    results = {}
    for profile in profiles:
        with tempfile.TemporaryDirectory() as store:
            env = dict(os.environ, RTSU_RESULTS_DIR=store)
            seconds = {}
            for notebook in profile_notebooks(Project(PROJECT), profile):
                command = [sys.executable, "-m", "rtsu_lib.cli", "run", "--profile", profile, "--figures", notebook]
                start = time.perf_counter()
                subprocess.run(command, cwd=PROJECT, env=env, check=True, capture_output=True)
                seconds[notebook] = time.perf_counter() - start
                print(f"  {profile:6s} {notebook:32s} {seconds[notebook]:8.1f} s", flush=True)
            seconds["total"] = sum(seconds.values())
        results[profile] = seconds
    return results


def bench_paper_estimate(measured):
    """Hours of each profile at the images per second measured above (activations, else the trainer)."""
    speeds = _measured_speeds(measured)
    if speeds is None:
        return {"skipped": "needs the activations or the trainer section in the same run"}
    results = {"img_per_s_used": speeds}
    for profile in ("smoke", "quick", "paper"):
        runs = cost.profile_runs(profile, PROJECT)
        results[profile] = {"runs": len(runs), "train_image_epochs": sum(run.image_epochs for run in runs),
                            "hours": cost.estimate_hours(runs, speeds)}
    return results


def _measured_speeds(measured):
    if "activations" in measured:
        return {name: measured["activations"][name]["img_per_s"] for name in ("rtsu", "crelu", "brelu", "relu")}
    if "trainer" in measured:
        first = next(iter(measured["trainer"].values()))["ours_img_per_s"]
        return dict.fromkeys(("rtsu", "crelu", "brelu", "relu"), first)
    return None


# --- printing ---------------------------------------------------------------------------------------

def print_trainer(results):
    print("\n1. Trainer vs reference-style loop (WRN + RTSU, one epoch each, in turns; goal: >= 1.5x)")
    for key, row in results.items():
        print(f"  {key:10s} reference {row['reference_img_per_s']:7.1f} img/s   "
              f"ours {row['ours_img_per_s']:7.1f} img/s   speed-up {row['speedup']:.2f}x")


def print_activations(results):
    print(f"\n2. Activation cost (one training step, batch {results['batch_size']}; "
          "goal: RTSU <= 1.05x CReLU in time, <= 1.0x in memory)")
    print(f"  {'activation':16s} {'step ms':>9s} {'img/s':>8s} {'time/CReLU':>11s} {'saved MiB':>10s}"
          f" {'mem/CReLU':>10s}")
    for name in ACTIVATIONS:
        row = results[name]
        print(f"  {name:16s} {row['step_ms']:9.1f} {row['img_per_s']:8.1f} {row['time_vs_crelu']:11.3f}"
              f" {row['saved_for_backward_mib']:10.1f} {row['memory_vs_crelu']:10.3f}")


def print_pipeline(results):
    print(f"\n3. Input pipeline (batch {results['batch_size']}; goal: ours <= 5 % of the step)")
    print(f"  ours       {results['ours_ms_per_batch']:7.2f} ms/batch = {results['ours_share_of_step']:6.1%} of a"
          f" {results['step_ms']:.1f} ms step ({results['ours_img_per_s_alone']:,.0f} img/s alone)")
    print(f"  reference  {results['reference_dataloader_ms_per_batch']:7.2f} ms/batch = "
          f"{results['reference_share_of_step']:6.1%} ({results['reference_dataloader_img_per_s_alone']:,.0f} "
          "img/s alone, per-image torchvision DataLoader, no workers)")


def print_transforms(results):
    count = next(iter(results.values()))["images"]
    print(f"\n4. Generating functions on {count:,} images (goal: >= 20x, max |diff| <= 1e-4)")
    print(f"  {'transform':10s} {'torch img/s':>12s} {'scipy img/s':>12s} {'speed-up':>9s} {'max |diff|':>11s}")
    for name, row in results.items():
        print(f"  {name:10s} {row['torch_img_per_s']:12,.0f} {row['scipy_img_per_s']:12,.0f} {row['speedup']:8.1f}x"
              f" {row['max_abs_diff']:11.1e}")
    for name, row in results.items():
        if "paper_order_3" in row:
            paper = row["paper_order_3"]
            print(f"  {name} vs the paper's order-3 call (methods differ): {paper['scipy_img_per_s']:,.0f} img/s,"
                  f" speed-up {paper['speedup']:.1f}x, max |diff| {paper['max_abs_diff']:.2f}")


def print_end_to_end(results):
    print("\n5a. End to end (wall seconds per notebook, fresh results store)")
    for profile, seconds in results.items():
        print(f"  {profile}: total {seconds['total']:.0f} s")


def print_paper_estimate(results):
    print("\n5b. Estimated cost of each profile at the measured speeds")
    if "skipped" in results:
        print(f"  skipped: {results['skipped']}")
        return
    speeds = ", ".join(f"{name} {speed:.0f}" for name, speed in results["img_per_s_used"].items())
    print(f"  images/s used: {speeds}")
    for profile in ("smoke", "quick", "paper"):
        row = results[profile]
        parts = ", ".join(f"{name} {hours:.2f}" for name, hours in row["hours"].items() if name != "total")
        print(f"  {profile:6s} {row['runs']:3d} runs, {row['train_image_epochs']:,} image-epochs: "
              f"{row['hours']['total']:.2f} h ({parts})")


# --- main ---------------------------------------------------------------------------------------------

def run_sections(sections, sizes, device, profiles):
    measured = {}
    runners = {"trainer": lambda: bench_trainer(sizes, device),
               "activations": lambda: bench_activations(sizes, device),
               "pipeline": lambda: bench_pipeline(sizes, device),
               "transforms": lambda: bench_transforms(sizes, device),
               "end_to_end": lambda: bench_end_to_end(profiles),
               "paper_estimate": lambda: bench_paper_estimate(measured)}
    printers = {"trainer": print_trainer, "activations": print_activations, "pipeline": print_pipeline,
                "transforms": print_transforms, "end_to_end": print_end_to_end, "paper_estimate": print_paper_estimate}
    for name in sorted(sections, key=ALL_SECTIONS.index):
        start = time.perf_counter()
        measured[name] = runners[name]()
        printers[name](measured[name])
        print(f"  ({time.perf_counter() - start:.0f} s)", flush=True)
    return measured


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the script, measures nothing")
    parser.add_argument("--sections", default=",".join(DEFAULT_SECTIONS),
                        help=f"comma-separated, from {', '.join(ALL_SECTIONS)} (default: all but end_to_end)")
    parser.add_argument("--profiles", default="smoke", help="profiles for end_to_end (comma-separated)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads on the CPU (default: 2)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when there is one)")
    parser.add_argument("--json", type=Path,
                        help="also write the numbers here (benchmarks/results/ is ignored by git)")
    args = parser.parse_args(argv)
    args.sections = [name.strip() for name in args.sections.split(",") if name.strip()]
    unknown = set(args.sections) - set(ALL_SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {sorted(unknown)}; choose from {', '.join(ALL_SECTIONS)}")
    return args


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    device = choose_device(args.device)
    sizes = FAST if args.quick else Sizes()
    facts = machine_facts()
    print("machine: " + ", ".join(f"{key} {value}" for key, value in facts.items()))
    measured = run_sections(args.sections, sizes, device, args.profiles.split(","))
    facts["load_average_end"] = os.getloadavg()
    report = {"machine": facts, "sizes": asdict(sizes), "quick": args.quick, "sections": measured}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1, default=list))
        print(f"\nwrote {args.json}")
    return report


if __name__ == "__main__":
    main()

"""``python -m studio`` / ``studio``: the command-line front end (see DESIGN.md, CLI contract).

Results go to stdout (JSON where asked), progress bars and errors to stderr. A user error is
one line ``studio: error: ...`` and exit status 2; nothing prints a traceback unless
``STUDIO_DEBUG=1`` is set.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from studio import __version__
from studio.errors import EngineError, JobCancelled, StudioError
from studio.progress import ProgressBar


def _analyze(args: argparse.Namespace) -> int:
    from studio.analysis import AnalysisParams, analyze
    from studio.options import check_beats_per_bar

    if getattr(args, "sections", False) and _motion_keypoint_file(Path(args.video)):
        return _motion_sections(args, Path(args.video), None)
    params = AnalysisParams(beats_per_bar=check_beats_per_bar(args.beats_per_bar))
    with ProgressBar("analysing", not args.quiet) as job:
        timeline = analyze(args.video, params, job=job, use_cache=not args.no_cache)
    summary = timeline.summary()
    if getattr(args, "sections", False):
        return _motion_sections(args, Path(args.video), summary)
    if args.json:
        json.dump(summary, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        _print_summary(summary)
    return 0


def _motion_keypoint_file(path: Path) -> bool:
    return path.is_dir() or path.suffix.lower() in (".json", ".npz")


def _motion_sections(args: argparse.Namespace, src: Path, summary: dict | None) -> int:
    """``analyze --sections``: motion sections (engines/motion) of a keypoint file, or of a video's
    keypoints (VIDEO.keypoints.json beside it, else MediaPipe Pose into a temporary file):
    ``studio.motion_sections.video_sections``, as the app's Motion sections lane."""
    from studio.motion_sections import video_sections

    with ProgressBar("motion sections", not args.quiet) as job:  # MediaPipe Pose first without keypoints
        source, sections = video_sections(src, job, keypoints_file=summary is None)
    if args.json:
        json.dump({**(summary or {}), "keypoints": source, "sections": sections}, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    if summary is not None:
        _print_summary(summary)
    print(f"sections   {len(sections)} (motion: engines/motion)")
    for s in sections:
        print(f"  {s['start_s']:7.2f} - {s['end_s']:7.2f} s  {s['label']}  nearest synthetic action {s['action']}"
              f" (distance {s['action_distance']:.2f})")
    return 0


def _fmt_times(times, limit: int = 12) -> str:
    shown = ", ".join(f"{t:.2f}" for t in times[:limit])
    return shown + (f", ... ({len(times)} in all)" if len(times) > limit else "")


def _print_summary(s: dict) -> None:
    print(f"video      {s['source']}")
    print(f"duration   {s['duration_s']:.2f} s, features at {s['rate_hz']:g} Hz")
    pulse = "" if s.get("rhythmic", True) else " (no clear rhythm in the picture: a gentle default)"
    print(f"tempo      {s['tempo_bpm']:.1f} BPM, {len(s['beat_times_s'])} beats, "
          f"confidence {s.get('tempo_confidence', 1.0):.2f}{pulse}")
    print(f"beats (s)  {_fmt_times(s['beat_times_s'])}")
    print(f"downbeats  {_fmt_times(s['downbeat_times_s'])}")
    impacts = s["impacts"]
    print(f"impacts    {len(impacts)}" + (":" if impacts else ""))
    for imp in impacts[:12]:
        print(f"  {imp['time_s']:7.3f} s  at ({imp['x']:.2f}, {imp['y']:.2f})  strength {imp['strength']:.2f}")
    if len(impacts) > 12:
        print(f"  ... ({len(impacts) - 12} more)")
    print(f"cuts (s)   {_fmt_times(s['cuts_s']) or 'none'}")
    if "analysis_wall_s" in s:
        print(f"analysis   {s['analysis_wall_s']:.2f} s" + (" (cached)" if s.get("cached") else ""))


def _settings(args: argparse.Namespace):
    from studio import adapters
    from studio.generate import GenerateSettings

    # the engines whose flag is given (the adapters' order), and the settings their flags fill
    # (adapter metadata: VALUE, CLI_ARGS)
    engines = tuple(n for n in adapters.ENGINE_NAMES if getattr(args, n, None))
    fields, engine_options = {}, {}
    for name in adapters.ENGINE_NAMES:
        info = adapters.info(name)
        if info.metavar and info.value and getattr(args, name, None) is not None:
            into = fields if info.value in GenerateSettings.__dataclass_fields__ else engine_options
            into[info.value] = getattr(args, name)
        for flag, key, kwargs in info.cli_args:
            value = getattr(args, kwargs.get("dest") or _dest(flag), None)
            if value is not None:
                engine_options[key] = value
    options = {k: v for k, v in (("material", args.material), ("bpm", args.bpm), ("downbeat_s", args.downbeat),
                                 ("tempo_factor", args.tempo_factor), ("steps", args.steps),
                                 ("cfg", args.cfg))
               if v is not None}
    options.update(engine_options)
    from studio.options import check_generate

    return check_generate(GenerateSettings(**{"engines": engines, "seed": args.seed, "style": args.style,
                                              "options": options, "loudness_lufs": getattr(args, "loudness", -14.0),
                                              **fields}))


def _generate(args: argparse.Namespace) -> int:
    from studio.generate import generate

    settings = _settings(args)
    with ProgressBar("generating", not args.quiet) as job:
        project = generate(args.video, args.out, settings, overwrite=args.overwrite, job=job)
    for track in project.tracks:
        for warning in track.settings.get("warnings", []):
            print(f"studio: note: {track.name}: {warning}", file=sys.stderr)
    print(f"wrote {Path(args.out) / 'project.json'} ({len(project.tracks)} tracks)")
    mix = Path(args.out) / "mix.wav"
    if mix.is_file():  # the loudness and true peak of the mix as written
        import soundfile as sf

        from studio.mastering import clipped_samples, integrated_lufs, true_peak_dbtp

        data, rate = sf.read(str(mix), dtype="float32", always_2d=True)
        lufs, peak = integrated_lufs(data.T, rate), true_peak_dbtp(data.T)
        target = "mastering off" if args.loudness is None else f"target {args.loudness:g} LUFS"
        clip = clipped_samples(data, 1.0 - 2.0 ** -23)
        print(f"mix {lufs:.1f} LUFS integrated, true peak {peak:.1f} dBTP ({target}); "
              + (f"{clip} clipped samples" if clip else "no clipped samples"))
    return 0


def _match(args: argparse.Namespace) -> int:
    """MIDI files by the soundtrack engine, or (``--audio``) recorded sound by the ambience engine;
    the audio files that cannot be read are named on stderr, one line each."""
    skipped: list[tuple[str, str]] = []
    if args.audio:
        from studio.adapters.ambience import match_audio_library

        with ProgressBar("matching", not args.quiet) as job:
            ranked, skipped = match_audio_library(args.video, args.library, args.words, args.windows, job=job)
    else:
        from studio.adapters.soundtrack import match_library

        if args.words is not None or args.windows is not None:
            raise StudioError("--words and --windows rank audio files: add --audio")
        with ProgressBar("matching", not args.quiet) as job:
            ranked = match_library(args.video, args.library, job=job)
    for path, why in skipped:
        print(f"studio: note: skipped {path}: {why}", file=sys.stderr)
    ranked = ranked[:args.top] if args.top else ranked
    if args.json:
        json.dump([{"path": p, "similarity": round(s, 4)} for p, s in ranked], sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        for i, (p, s) in enumerate(ranked, 1):
            print(f"{i:3d}  {s:+.3f}  {p}")
    return 0


def _pose(args: argparse.Namespace) -> int:
    from studio import pose

    video = Path(args.video)
    out = Path(args.out) if args.out else video.with_name(video.name + ".keypoints.json")
    if out.exists() and not args.overwrite:
        raise StudioError(f"{out} already exists; pass --overwrite to replace it")
    with ProgressBar("pose", not args.quiet) as job:
        pose.estimate(video, out, job)
    print(f"wrote {out}")
    return 0


def _separate(args: argparse.Namespace) -> int:
    from studio.separate import separate_video

    with ProgressBar("separating", not args.quiet) as job:
        r = separate_video(args.video, args.person, keypoints=args.keypoints, out_dir=args.out,
                           project=args.project, overwrite=args.overwrite, job=job)
    print(f"wrote {r.player_path} (person {args.person}, {r.duration_s:.1f} s at {r.sample_rate} Hz)")
    print(f"wrote {r.residual_path} (everything else)")
    if r.tracks:
        print(f"added tracks {', '.join(r.tracks)} to {args.project} (its original audio muted: they sum to it)")
    return 0


def _positive_jobs(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if not 1 <= n <= 64:
        raise argparse.ArgumentTypeError(f"{text!r}: --jobs takes a whole number from 1 to 64")
    return n


def _batch(args: argparse.Namespace) -> int:
    from studio.batch import STATE_FILE, default_jobs, run_batch

    if args.jobs is None:
        args.jobs = default_jobs()

    if getattr(args, "keypoints", None) or getattr(args, "keyboard", None):
        raise StudioError("batch: --keypoints and --keyboard belong to one video; each video's keypoints are "
                          "read from VIDEO.keypoints.json beside it, and each keyboard is found in its picture")
    with ProgressBar("batch", not args.quiet) as job:
        items = run_batch(args.folder, args.out, _settings(args), ray_address=args.ray, jobs=args.jobs, job=job)
    for item in items:
        line = f"{item.status:8s} {Path(item.video).name} -> {item.project_dir}"
        print(line + (f"  ({item.error})" if item.error else f"  {item.wall_s:.1f} s" if item.wall_s else ""))
    failed = [i for i in items if i.status == "failed"]
    done = sum(i.status == "done" for i in items)
    skipped = sum(i.status == "skipped" for i in items)
    print(f"{done} done, {skipped} skipped (already done), {len(failed)} failed; state in "
          f"{Path(args.out) / STATE_FILE}", file=sys.stderr)
    return 1 if failed else 0


def _export(args: argparse.Namespace) -> int:
    from studio.exporting import export_project
    from studio.project import Project

    project = Project.load(args.project)
    outputs = {k: getattr(args, a) for k, a in (("stems_dir", "stems"), ("mix_path", "mix"), ("midi_path", "midi"),
                                               ("video_path", "video"), ("rpp_path", "rpp"),
                                               ("dawproject_path", "dawproject"))}
    if all(v is None for v in outputs.values()):
        raise StudioError("nothing to export: give at least one of --stems, --mix, --midi, --video, --rpp, "
                          "--dawproject")
    outputs = _export_targets(outputs, args.out, project.name)
    if any(outputs[k] is not None for k in ("stems_dir", "mix_path", "video_path")):  # audio is rendered
        _external_audio(project, args.allow_external_audio)
    from studio.generate import without_silent

    project, silent = without_silent(project)  # e.g. a Foley track without hits: no silent stem
    for name in silent:
        print(f"studio: note: {name}: no hits, no stem written (add hits by double-clicking the Foley lane)",
              file=sys.stderr)
    with ProgressBar("exporting", not args.quiet) as job:
        report = export_project(
            project,
            **outputs,
            root=args.out,
            allow_external_audio=args.allow_external_audio,
            sample_rate=args.sample_rate,
            bit_depth=args.bit_depth,
            loudness_lufs=args.loudness,
            limiter=args.limiter,
            overwrite=args.overwrite,
            keep_original_audio=not args.no_original_audio,
            job=job,
        )
    for path in report.written:
        print(f"wrote {path}")
    _print_levels(report)
    return 0


def _external_audio(project, allowed: bool) -> None:
    """Audio the project plays from outside its folder: listed on stderr when allowed, else refused."""
    from studio.names import external_paths

    outside = external_paths(project, project.audible_tracks())
    if outside and not allowed:
        raise StudioError(f"the project plays {len(outside)} audio file{'s' * (len(outside) != 1)} from outside "
                          f"its folder ({', '.join(outside)}); pass --allow-external-audio to export it anyway")
    for ref in outside:
        print(f"studio: note: exporting audio from outside the project: {ref}", file=sys.stderr)


def _export_targets(outputs: dict, out: str | None, project_name: str) -> dict:
    """``studio export``'s paths: a flag given without a value gets the default name made from
    the project's name (``studio.names.export_names``, as in the app); with ``--out`` relative
    paths are taken inside it (export_project then refuses anything that lands outside)."""
    from studio.names import export_names

    defaults = export_names(project_name)
    folder = Path(out) if out else Path(".")
    targets = {}
    for key, value in outputs.items():
        if value is None:
            targets[key] = None
        elif value == _DEFAULT_NAME:
            targets[key] = folder / defaults[key]
        else:
            targets[key] = folder / value if out else Path(value)
    if out and not Path(out).is_dir():
        raise StudioError(f"the output folder {out} does not exist; create it first")
    return targets


_DEFAULT_NAME = "\0default"  # a flag given without a value (no real path holds NUL)


def _print_levels(report) -> None:
    """The measured loudness and true peak of the exported mix (after the bit-depth conversion)."""
    if report.mix_path is None and not report.stems and report.video_path is None:
        return
    target = ("mastering off" if report.loudness_target_lufs is None
              else f"target {report.loudness_target_lufs:g} LUFS")
    lufs = f"{report.loudness_lufs:.1f} LUFS" if report.loudness_lufs > float("-inf") else "silent"
    peak = f"{report.true_peak_dbtp:.1f} dBTP" if report.true_peak_dbtp > float("-inf") else "-inf dBTP"
    clip = report.clipped_samples + report.stems_clipped_samples
    print(f"mix {lufs} integrated, true peak {peak} ({target}); "
          + (f"{clip} clipped samples" if clip else "no clipped samples"))


def _spatialize(args: argparse.Namespace) -> int:
    from studio.project import Project
    from studio.spatialize import spatialize  # all or nothing: project.json, stems and mix together

    _external_audio(Project.load(args.project), args.allow_external_audio)  # before the project is touched
    with ProgressBar("rendering binaural stems", not args.quiet) as job:
        _, placed, room, report = spatialize(args.project, args.room, args.track, stems=args.stems, mix=args.mix,
                                             job=job, allow_external_audio=args.allow_external_audio)
    print(f"placed {len(placed)} track{'s' * (len(placed) != 1)} in {room}: {', '.join(placed)}")
    for path in report.written:
        print(f"wrote {path}")
    _print_levels(report)
    return 0


def _bench(args: argparse.Namespace) -> int:
    from studio import bench

    if args.from_report:
        report = bench.read_report(args.from_report)  # checked: a clear error for a damaged report
    else:
        names = args.names or bench.available()
        for name in names:
            bench.load(name)  # an unknown name fails before anything runs
        info = bench.machine_info()
        results = []
        for name in names:
            run = bench.load(name)
            with ProgressBar(f"bench {name}", not args.quiet) as job:
                result = run(job=job, **bench.options_for(run, vars(args)))
            result.setdefault("name", name)
            result["machine"] = info
            results.append(result)
            print(json.dumps(result), flush=True)
        report = bench.make_report(results, info)
    if args.report:
        bench.write_report(report, args.report)
    if args.plot:
        bench.plot_report(report, args.plot)
    return 0


def _devices(args: argparse.Namespace) -> int:
    from studio.transport.devices import describe_devices

    from studio.about import build_info

    info = describe_devices()
    info["build"] = build_info()
    info["banks"], info["automatic_banks"] = _banks_info()
    if args.json:
        json.dump(info, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    print("audio outputs" + ("" if info["audio"] else ": none"))
    for d in info["audio"]:
        mark = "*" if d["is_default"] else " "
        print(f" {mark}{d['index']:3d}  {d['name']}  [{d['host_api']}, {d['output_channels']} ch, "
              f"{d['default_sample_rate']:g} Hz]")
    print(f"MIDI ({info['midi_api'] or 'no API'})")
    for direction, ports in (info["midi"] or {}).items():
        print(f"  {direction}: " + (", ".join(ports) if ports else "none"))
    for problem in info["problems"]:
        print(f"note: {problem}")
    b = info["build"]
    print(f"ONNX runtime {', '.join(b['onnxruntime_distributions']) or b['onnxruntime']}, providers: "
          f"{', '.join(b['onnx_providers_available'])}")
    if b["onnxruntime_problem"]:
        print(f"note: {b['onnxruntime_problem']}")
    for model, provider in b["models"].items():
        print(f"  {model:24s} {provider}")
    print(f"engines    {', '.join(b['engines']) or 'none'}")
    print(f"soundfont  {b['soundfont']}")
    from studio.synth import SOUNDFONT_ENV

    auto = info["automatic_banks"]
    print("instrument banks" + ("" if info["banks"] else ": none (install fluid-soundfont-gm)"))
    width = max((len(bank["id"]) for bank in info["banks"]), default=0)
    for bank in info["banks"]:
        mark = "*" if bank["id"] in auto.values() else " "
        kind = "GM" if bank["kind"] == "gm" else "drums"
        print(f" {mark}{bank['id']:{width}s} {kind:5s} {bank['size_bytes'] / 1e6:6.1f} MB  {bank['path']}  "
              f"[{bank['licence']}]")
    print("  automatic: melodic " + (auto.get("melodic") or "none") + ", drums " + (auto.get("drums") or "none")
          + (f" (${SOUNDFONT_ENV} is set)" if os.environ.get(SOUNDFONT_ENV) else ""))
    return 0


def _banks_info() -> tuple[list[dict], dict[str, str]]:
    """The instrument banks installed here, and which of them each kind of part plays by
    default (an id, or the file name when $STUDIO_SOUNDFONT names another file)."""
    from studio import synth

    found = [b.to_dict() for b in synth.available_banks()]
    auto: dict[str, str] = {}
    for part, drums in (("melodic", False), ("drums", True)):
        try:
            auto[part] = synth.resolve_bank(None, drums=drums).id
        except StudioError as exc:
            auto[part] = f"none ({exc})"
    return found, auto


def _play(args: argparse.Namespace) -> int:
    from studio.options import check_span
    from studio.project import Project
    from studio.transport.play import play_project

    check_span(args.start, args.end)  # before the project is rendered
    if args.varispeed and args.follow is None:
        raise StudioError("--varispeed chases a DAW's speed: it goes with --follow")
    project = Project.load(args.project)
    device = int(args.device) if args.device and args.device.isdigit() else args.device
    show = not args.quiet

    def tick(pos: float) -> None:
        if show:
            print(f"\r{pos:7.2f} / {project.duration_s:.2f} s", end="", file=sys.stderr, flush=True)

    if show:
        print("rendering the project for playback ...", file=sys.stderr, flush=True)
    result = play_project(project, audio_device=device, no_audio=args.no_audio, midi_port=args.midi_port,
                          midi=not args.no_midi, synth_midi=args.synth_midi, start_s=args.start,
                          end_s=args.end, on_tick=tick, follow=args.follow, mtc_offset_s=args.mtc_offset,
                          jack_stems=args.jack_stems, varispeed=args.varispeed)
    if show:
        print(file=sys.stderr)
    if result["error"]:
        raise StudioError(result["error"])
    print(json.dumps(result))
    return 0


def _live(args: argparse.Namespace) -> int:
    from studio.live import LiveSettings, run_live
    from studio.transport.midi import MidiPort

    settings = LiveSettings(bpm=args.bpm, style=args.style, seed=args.seed, key=args.key,
                            warmup_s=args.warmup, max_seconds=args.seconds, music=not args.drums_only)
    from studio.options import check_live

    check_live(settings, args.record)  # before a MIDI port is opened or a frame decoded
    # live notes go out the moment they are made (no frame to aim at): python-rtmidi, whose C
    # callback needs no GIL, rather than the JACK client's Python one
    port = None if args.no_midi else MidiPort(port=args.midi_port, backend="rtmidi")
    try:
        with ProgressBar("live", not args.quiet) as job:
            report = run_live(args.source, settings, port=port, record_path=args.record, job=job)
    finally:
        if port is not None:
            port.close()
    print(json.dumps(report.summary()))
    if args.record:
        print(f"wrote {args.record}", file=sys.stderr)
    return 0


def _box(text: str) -> tuple[int, int, int, int]:
    try:
        x, y, w, h = (int(round(float(v))) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not X,Y,W,H (four numbers, video pixels)") from None
    if w <= 0 or h <= 0 or x < 0 or y < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: the box needs X,Y >= 0 and a positive width and height")
    return x, y, w, h


def _loudness(text: str) -> float | None:
    from studio.mastering import parse_loudness

    try:
        return parse_loudness(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _loudness_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--loudness", type=_loudness, default=-14.0, metavar="LUFS|off",
                   help="mastering: the mix's integrated loudness target in LUFS (default -14, online video; "
                        "-23 for broadcast), with a -1 dBTP true-peak limiter on the mix and every stem, "
                        "default gain staging and the reverb bus; 'off' writes the plain sum of the tracks")


def _external_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--allow-external-audio", action="store_true",
                   help="render audio files that tracks reference outside the project's folder (refused by "
                        "default: a shared project could pull any file of your disk into the export)")


def _dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def _arg_type(spec):
    """An adapter's CLI_ARGS ``type``: a name (int, float, str, box) or "module:function",
    imported only when the flag is used."""
    named = {"int": int, "float": float, "str": str, "box": _box}
    if spec is None or callable(spec):
        return spec
    if spec in named:
        return named[spec]

    def convert(text: str):
        import importlib

        module, func = spec.split(":")
        return getattr(importlib.import_module(module), func)(text)

    convert.__name__ = spec.split(":")[-1]
    return convert


def _engine_args(p: argparse.ArgumentParser) -> None:
    # one flag per adapter found (studio.adapters; its metadata: HELP, METAVAR, CLI_ARGS), in run
    # order: a switch (--rhythm) or, with METAVAR, a value (--spatial ROOM); then its further flags
    from studio import adapters

    added = set()  # a flag several engines share (--motion-sections: rhythm, soundtrack) is added once
    for name in adapters.ENGINE_NAMES:
        info = adapters.info(name)
        if info.metavar:
            p.add_argument(f"--{name}", metavar=info.metavar, help=info.help or None)
        else:
            p.add_argument(f"--{name}", action="store_true", help=info.help or None)
        for flag, _, kwargs in info.cli_args:
            if flag in added:
                continue
            added.add(flag)
            kwargs = dict(kwargs)
            if "type" in kwargs:
                kwargs["type"] = _arg_type(kwargs["type"])
            p.add_argument(flag, **kwargs)
    p.add_argument("--style", help="style word for the engines that take one")
    p.add_argument("--material", help="Foley: one material for every impact (default: proposed per hit)")
    p.add_argument("--bpm", type=float, help="one constant tempo for every engine instead of the visual beats")
    p.add_argument("--downbeat", type=float, metavar="S",
                   help="bar 1 starts at S seconds (on the nearest visual beat, else exactly there)")
    p.add_argument("--tempo-factor", type=float, choices=(0.5, 2.0),
                   help="half (0.5) or double (2) time of the visual beats")
    p.add_argument("--steps", type=int, help="soundtrack: parallel decoding steps (default 16)")
    p.add_argument("--cfg", type=float, help="soundtrack: guidance scale on the video (default 3)")
    p.add_argument("--seed", type=int, default=0)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="studio", description="Video-to-sound studio")
    p.add_argument("--version", action="version", version=f"studio {__version__}")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar on stderr")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    _add_video_commands(sub)
    _add_project_commands(sub)
    _add_playback_commands(sub)
    _add_bench_command(sub)
    return p


def _add_video_commands(sub) -> None:
    """analyze, generate, pose, match, batch: the commands that start from a video."""
    a = sub.add_parser("analyze", help="tempo, beats, impacts and cuts of a video")
    a.add_argument("video")
    a.add_argument("--json", action="store_true", help="print the analysis summary as JSON")
    a.add_argument("--beats-per-bar", type=int, default=4, metavar="N")
    a.add_argument("--no-cache", action="store_true", help="analyse again even if cached")
    a.add_argument("--sections", action="store_true",
                   help="also the motion sections of the person in view (where the movement changes kind): from "
                        "VIDEO.keypoints.json beside the video, else MediaPipe Pose; VIDEO may be a keypoint file")
    a.set_defaults(func=_analyze)

    g = sub.add_parser("generate", help="analyse a video and generate sound for it")
    g.add_argument("video")
    _engine_args(g)
    g.add_argument("--out", required=True, metavar="DIR")
    g.add_argument("--overwrite", action="store_true")
    _loudness_arg(g)
    g.set_defaults(func=_generate)

    ps = sub.add_parser("pose", help="body keypoints of the player (MediaPipe Pose) for --performer")
    ps.add_argument("video")
    ps.add_argument("--out", metavar="FILE", help="default: VIDEO.keypoints.json beside the video (found by generate)")
    ps.add_argument("--overwrite", action="store_true")
    ps.set_defaults(func=_pose)

    se = sub.add_parser("separate", help="one visible player's sound from the video's audio, and the rest")
    se.add_argument("video")
    se.add_argument("--person", type=int, default=0, metavar="N",
                    help="which person of the keypoint file (0 first, the file's order; default 0)")
    se.add_argument("--keypoints", metavar="FILE", help="default: VIDEO.keypoints.json beside the video (studio pose)")
    se.add_argument("--out", metavar="DIR", help="where the two WAVs go (default: beside the video; with "
                    "--project: its assets folder)")
    se.add_argument("--project", metavar="PROJECT", help="project.json or its folder: add both as audio tracks")
    se.add_argument("--overwrite", action="store_true")
    se.set_defaults(func=_separate)

    m = sub.add_parser("match", help="rank a folder of MIDI files (--audio: recorded sound) by how well they fit a "
                                     "video")
    m.add_argument("video")
    m.add_argument("--library", required=True, metavar="DIR",
                   help="folder of .mid/.midi files, or with --audio of audio files (wav, flac, ogg, opus, mp3, m4a, "
                        "aiff, ...), searched recursively")
    m.add_argument("--audio", action="store_true",
                   help="rank audio files with the ambience model: each file from its start against the video's "
                        "first N x 10 s (--windows; a shorter file padded with silence), scored as the mean gain "
                        "in log-likelihood per codec token (nats) under the video's picture and --words over no "
                        "conditions; files that cannot be decoded are skipped and named on stderr")
    m.add_argument("--words", metavar="WORDS", help="with --audio: ambience words the sound should fit, as generate "
                                                    "--ambience WORDS (e.g. \"rain, city\")")
    m.add_argument("--windows", type=int, metavar="N",
                   help="with --audio: compare at most N 10 s windows from the start (1..30, default 3): time "
                        "and memory per file stay bounded however long it is")
    m.add_argument("--top", type=int, metavar="N", help="show only the N best")
    m.add_argument("--json", action="store_true", help="print [{path, similarity}] as JSON (with --audio the "
                                                       "similarity is the score above)")
    m.set_defaults(func=_match)

    bt = sub.add_parser("batch", help="generate for every video in a folder (resumable; --ray for a cluster)")
    bt.add_argument("folder")
    _engine_args(bt)
    bt.add_argument("--out", required=True, metavar="DIR")
    bt.add_argument("--jobs", type=_positive_jobs, default=None, metavar="N",
                    help="local worker processes (default: half the cores, at most 4)")
    bt.add_argument("--ray", metavar="ADDRESS", help="run one Ray task per video on a Ray cluster: 'auto' (the "
                    "running one), host:port, or 'local' (a Ray instance on this machine)")
    _loudness_arg(bt)
    bt.set_defaults(func=_batch)


def _add_project_commands(sub) -> None:
    """export, spatialize: the commands that write files from a saved project."""
    e = sub.add_parser("export", help="write stems, mix, MIDI, video, a REAPER project or a DAWproject")
    e.add_argument("project", help="project.json or its folder")
    e.add_argument("--stems", metavar="DIR", nargs="?", const=_DEFAULT_NAME,
                   help="one WAV per track (without DIR: 'NAME stems', NAME from the project's name)")
    e.add_argument("--mix", metavar="FILE", nargs="?", const=_DEFAULT_NAME,
                   help="the mixdown (default name 'NAME mix.wav')")
    e.add_argument("--midi", metavar="FILE", nargs="?", const=_DEFAULT_NAME,
                   help="Standard MIDI File of the MIDI tracks (default name 'NAME.mid')")
    e.add_argument("--video", metavar="FILE", nargs="?", const=_DEFAULT_NAME,
                   help="the video with the new sound (default name 'NAME with sound.mp4')")
    e.add_argument("--rpp", metavar="FILE", nargs="?", const=_DEFAULT_NAME,
                   help="REAPER project with every stem and MIDI track (default name 'NAME.rpp')")
    e.add_argument("--dawproject", metavar="FILE", nargs="?", const=_DEFAULT_NAME,
                   help="DAWproject (Bitwig Studio, Studio One) holding every stem, the MIDI tracks' notes and "
                        "the tempo map; needs --stems (default name 'NAME.dawproject')")
    e.add_argument("--out", metavar="DIR",
                   help="the folder to export into: relative paths and default names are taken inside it, "
                        "and nothing is written outside it (names are made safe: no '..', '/', control characters)")
    _external_arg(e)
    e.add_argument("--sample-rate", type=int, choices=(44100, 48000, 96000))
    e.add_argument("--bit-depth", choices=("16", "24", "float32"), default="24")
    _loudness_arg(e)
    e.add_argument("--limiter", action="store_true",
                   help="true-peak limiter (-1 dBTP) on the mixdown; always on unless --loudness off, "
                        "so it matters only with --loudness off")
    e.add_argument("--no-original-audio", action="store_true",
                   help="leave the video's own audio out: its track ('Original audio') from the stems and the "
                        "mix, its stream from the video (kept by default)")
    e.add_argument("--overwrite", action="store_true")
    e.set_defaults(func=_export)

    sp = sub.add_parser("spatialize", help="place a project's tracks in a room; re-export binaural stems and mix")
    sp.add_argument("project", help="project.json or its folder")
    sp.add_argument("--room", required=True, help="preset room (studio, living_room, hall)")
    sp.add_argument("--track", action="append", metavar="NAME", help="only this track (name or id; repeatable)")
    sp.add_argument("--stems", metavar="DIR", help="binaural stems (default: PROJECT_DIR/stems, replaced)")
    sp.add_argument("--mix", metavar="FILE", help="binaural mix (default: PROJECT_DIR/mix.wav, replaced)")
    _external_arg(sp)
    sp.set_defaults(func=_spatialize)


def _add_playback_commands(sub) -> None:
    """devices, play, live: the commands that use audio and MIDI devices."""
    d = sub.add_parser("devices", help="audio outputs, MIDI ports, ONNX providers and instrument banks")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=_devices)

    pl = sub.add_parser("play", help="play a project: audio to the device, MIDI tracks to a port")
    pl.add_argument("project", help="project.json or its folder")
    pl.add_argument("--device", help="audio output (index or part of its name; default: system default)")
    pl.add_argument("--no-audio", action="store_true", help="MIDI only, timed by the system clock")
    pl.add_argument("--midi-port", metavar="NAME", help="existing MIDI port (default: virtual port 'Studio')")
    pl.add_argument("--no-midi", action="store_true", help="synthesise MIDI tracks instead of sending them")
    pl.add_argument("--synth-midi", action="store_true", help="send MIDI and also synthesise it")
    pl.add_argument("--start", type=float, default=0.0, metavar="S")
    pl.add_argument("--end", type=float, metavar="S")
    pl.add_argument("--follow", nargs="?", const="", metavar="PORT",
                    help="follow a DAW: its MIDI clock/SPP/Start/Stop or MTC on PORT (default: the virtual "
                         "input 'Studio Sync') start, stop and position playback; runs until --end or Ctrl+C")
    pl.add_argument("--varispeed", action="store_true",
                    help="with --follow: chase the DAW's speed (video, audio and MIDI play at the DAW's rate, the "
                         "audio's pitch with it, as tape varispeed) instead of jumping when its tempo differs")
    pl.add_argument("--mtc-offset", type=float, default=0.0, metavar="S",
                    help="MIDI Time Code of the video's start in seconds (3600 for a DAW at 01:00:00:00)")
    pl.add_argument("--jack-stems", action="store_true",
                    help="play through the studio's own JACK client: the mix on 'Mix L/R' and every track's stem "
                         "on its own output pair, for a DAW to record (needs a running JACK server)")
    pl.set_defaults(func=_play)

    lv = sub.add_parser("live", help="drums and parts from a playing video or a camera, to a MIDI port")
    lv.add_argument("source", help="a video file, /dev/videoN, an RTSP/HTTP URL, or - for a stream on stdin")
    lv.add_argument("--midi-port", metavar="NAME", help="existing MIDI port (default: virtual port 'Studio')")
    lv.add_argument("--no-midi", action="store_true", help="generate (and --record) without sending MIDI")
    lv.add_argument("--bpm", type=float, help="fixed tempo (default: from the first seconds of motion)")
    lv.add_argument("--style", default="rock", help="rock, funk, hip-hop, electronic, latin or jazz")
    lv.add_argument("--key", help="key of bass and keys, e.g. Am or E")
    lv.add_argument("--seed", type=int, default=0)
    lv.add_argument("--warmup", type=float, default=4.0, metavar="S", help="seconds of motion that set the tempo")
    lv.add_argument("--seconds", type=float, metavar="S", help="stop after this much of the source")
    lv.add_argument("--drums-only", action="store_true", help="no bass and keys")
    lv.add_argument("--record", metavar="FILE", help="also write what was played as a MIDI file")
    lv.set_defaults(func=_live)


def _add_bench_command(sub) -> None:
    b = sub.add_parser("bench", help="run benchmarks; one JSON object per line on stdout")
    b.add_argument("names", nargs="*", metavar="NAME")
    b.add_argument("--report", metavar="FILE", help="also write one JSON report of the whole run")
    b.add_argument("--plot", metavar="FILE", help="draw the figures against their targets (PNG; pipeline "
                   "alone: time and memory against the video's length)")
    b.add_argument("--from-report", metavar="FILE", help="plot/rewrite an earlier --report instead of running")
    b.add_argument("--minutes", metavar="M,M,...", help="pipeline: the video lengths in minutes (default 1,10); "
                   "transport: the clock stage's length in minutes (default 1)")
    b.add_argument("--quick", action="store_true", help="pipeline: one 10 s video instead; transport: 2 s stages")
    b.set_defaults(func=_bench)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except JobCancelled:
        print("studio: cancelled", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("studio: interrupted", file=sys.stderr)
        return 130
    except (StudioError, EngineError) as exc:
        if os.environ.get("STUDIO_DEBUG"):
            raise
        print(f"studio: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug: still one line, with a way to get the traceback
        if os.environ.get("STUDIO_DEBUG"):
            raise
        print(f"studio: internal error: {type(exc).__name__}: {exc} (set STUDIO_DEBUG=1 for details)",
              file=sys.stderr)
        return 1

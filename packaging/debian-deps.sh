#!/usr/bin/env bash
# Install the Debian packages the studio needs, if any are missing:
#   packaging/debian-deps.sh [--run] [--gui] [--train]
# Sets (the default, with no --run, is what the tests need: run + test):
# run    what the app and the CLI need at run time (make run):
#   libfluidsynth3       MIDI synthesis (pyfluidsynth loads it)
#   fluid-soundfont-gm   the General MIDI soundfont (FluidR3_GM.sf2, MIT licence)
#   musescore-general-soundfont-lossless  MuseScore General HQ uncompressed (330 MB download, 490 MB
#                        SF2, MIT; parts CC0/public domain): the preferred GM bank (sampled grand
#                        piano with velocity layers); its presets are read, not decoded (0.2 CPU-s)
#   avldrums.lv2-soundfont  AVL Drumkits (Black Pearl, Red Zeppelin: recorded 4-piece kits, 5 velocity
#                        layers, 46 MB, CC-BY-SA-3.0): what drum tracks play when installed
#   libportaudio2        audio output (sounddevice loads it)
# test   also what the tests read (make test):
#   fluidsynth           command-line synth, used by tests to check exported MIDI files
#   timgm6mb-soundfont   a small GM soundfont (6 MB, GPL-2) the tests render with (fast to load)
#   musescore-general-soundfont  the same font Ogg-compressed (86 MB SF3): the bank a project that
#                        chose `musescore` plays; the tests check both render the same instruments
#   jackd2               JACK server + jack_midi_dump: real audio/MIDI I/O tests without hardware
#   hydrogen-data        Hydrogen demo songs (GPL-2+): drum patterns for the rhythm engine's training
#                        (its smoke test)
#   libmysofa1           MIT KEMAR HRTF set (SOFA): the spatial teacher and its HRIR table, tests
#   asterisk-moh-opsound-wav, sound-theme-freedesktop, colobot-common-sounds  recorded music, alerts
#                        and game effects (14 + 0.4 + 61 MB; CC-BY-SA-3.0, CC-BY/GPL, GPL-3+): the
#                        codec's smoke training and held-out test clips (engines/codec)
# --gui  also what a real window needs (Qt's xcb plugin and its X libraries) and Xvfb (xvfb-run)
#        for a machine without a display (make run, make screenshots)
# --train  also every package the full training scripts read (make train-deps):
#   hydrogen-data, libmysofa1 (above) and lmms-common (LMMS demo projects: the rhythm and performer
#   engines' full training data; the smoke tests read Hydrogen's songs only); the codec's sound
#   (above) plus freeciv-data (20 MB, GPL-2+: effects) and warzone2100-music (86 MB, CC-BY-SA-3.0 /
#   GPL-2+: soundtracks), the codec's full training data
# As root it installs them; otherwise it prints the apt-get line to run and fails.
set -euo pipefail
run=(libfluidsynth3 fluid-soundfont-gm musescore-general-soundfont-lossless avldrums.lv2-soundfont
     libportaudio2)
test=(fluidsynth timgm6mb-soundfont musescore-general-soundfont jackd2 hydrogen-data libmysofa1
      asterisk-moh-opsound-wav sound-theme-freedesktop colobot-common-sounds)
gui=(xvfb xauth libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0
     libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libxcb-randr0 libxkbcommon-x11-0 libegl1 libgl1
     fonts-dejavu-core)
train=(hydrogen-data libmysofa1 lmms-common asterisk-moh-opsound-wav sound-theme-freedesktop
       colobot-common-sounds freeciv-data warzone2100-music)
packages=("${run[@]}")
with_test=1
extra=()
for arg in "$@"; do
  case "$arg" in
    --run) with_test=0 ;;
    --gui) extra+=("${gui[@]}") ;;
    --train) extra+=("${train[@]}") ;;
    *) echo "usage: $0 [--run] [--gui] [--train]" >&2; exit 2 ;;
  esac
done
[ "$with_test" -eq 1 ] && packages+=("${test[@]}")
packages+=("${extra[@]}")
missing=()
for p in "${packages[@]}"; do
  case " ${missing[*]} " in *" $p "*) continue ;; esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "Missing Debian packages: ${missing[*]}" >&2
  echo "Run as root:  apt-get update && $cmd" >&2
  exit 1
fi
echo "Installing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
$cmd -q >/dev/null

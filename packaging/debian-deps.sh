#!/usr/bin/env bash
# Install the Debian packages the studio needs at run time and in tests, if any are missing.
#   libfluidsynth3       MIDI synthesis (pyfluidsynth loads it)
#   fluidsynth           command-line synth, used by tests to check exported MIDI files
#   fluid-soundfont-gm   the General MIDI soundfont (FluidR3_GM.sf2, MIT licence)
#   timgm6mb-soundfont   a small GM soundfont (6 MB, GPL-2) the tests render with (fast to load)
#   musescore-general-soundfont  MuseScore General HQ (86 MB SF3, MIT; parts CC0/public domain): the
#                        preferred GM bank (sampled grand piano with velocity layers); loads in ~4 s
#   avldrums.lv2-soundfont  AVL Drumkits (Black Pearl, Red Zeppelin: recorded 4-piece kits, 5 velocity
#                        layers, 46 MB, CC-BY-SA-3.0): what drum tracks play when installed
#   libportaudio2        audio output (sounddevice loads it)
#   jackd2               JACK server + jack_midi_dump: real audio/MIDI I/O tests without hardware
#   hydrogen-data        Hydrogen demo songs (GPL-2+): drum patterns for the rhythm engine's training
#                        (smoke test); the full training also reads lmms-common (apt-get install it)
#   libmysofa1           MIT KEMAR HRTF set (SOFA): the spatial teacher and its HRIR table, tests
# With --gui also what a real window needs (Qt's xcb plugin) and Xvfb for screenshots.
# As root it installs them; otherwise it prints the apt-get line to run and fails.
set -euo pipefail
packages=(libfluidsynth3 fluidsynth fluid-soundfont-gm timgm6mb-soundfont musescore-general-soundfont
          avldrums.lv2-soundfont libportaudio2 jackd2 hydrogen-data libmysofa1)
if [ "${1:-}" = "--gui" ]; then
  packages+=(xvfb xauth libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0
             libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libxcb-randr0 libxkbcommon-x11-0 libegl1 libgl1
             fonts-dejavu-core)
fi
missing=()
for p in "${packages[@]}"; do
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

#!/usr/bin/env bash
# Install the Debian packages musicvae needs, when we can (root or sudo);
# otherwise print exactly what to install. Idempotent: installs only what is missing.
set -euo pipefail

# python3-venv: `python3 -m venv` on Debian's own Python.
# libfluidsynth3 + fluid-soundfont-gm: rendering notes from SoundFonts (pyfluidsynth, FluidR3_GM.sf2);
# musescore-general-soundfont + fluidr3mono-gm-soundfont: the timbre-8 recipe's other SoundFonts (.sf3).
# libasound2 + libjack-jackd2-0: python-rtmidi; libportaudio2: sounddevice; jackd2: the realtime
# tests' JACK server (`jackd --no-realtime -d dummy`), and MIDI/audio where no ALSA sequencer exists.
# puredata-core: Pure Data (pd -nogui), which the tests run the OSC patch of examples/pd/ in.
# chromium: the browser the studio's tests drive (through Playwright, pointed at /usr/bin/chromium).
PACKAGES=(python3-venv libfluidsynth3 fluid-soundfont-gm musescore-general-soundfont fluidr3mono-gm-soundfont libasound2 libjack-jackd2-0 libportaudio2 jackd2 chromium puredata-core)

missing=()
for pkg in "${PACKAGES[@]}"; do
    # A Python that already makes venvs needs no python3-venv (pyenv, conda, python.org builds).
    if [[ $pkg == python3-venv ]] && python3 -c "import ensurepip, venv" 2>/dev/null; then
        continue
    fi
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    echo "musicvae needs these system packages (Debian names): ${missing[*]}; install them with your package manager" >&2
    exit 0
fi
if [[ $(id -u) -eq 0 ]]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
else
    echo "musicvae needs: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi
echo "installing system packages: ${missing[*]}"
"${SUDO[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"

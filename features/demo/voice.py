"""Speech-like audio for the demo corpus: a source-filter synthesis of the two RAVDESS statements.

Per syllable of "Kids are talking by the door" / "Dogs are sitting by the door": a glottal pulse
train (Rosenberg pulse, differentiated for lip radiation, with jitter, shimmer and aspiration
noise) filtered by a cascade of five formant resonators tuned to the syllable's vowel (gliding for
diphthongs and r-coloured codas), under an attack/decay envelope; consonants are band-passed noise
bursts (plosives after a closure, fricatives) or low nasal/voiced murmurs.

Emotion sets the prosody (papers are silent on synthesis; values follow the usual acoustic
correlates of emotional speech, Juslin & Laukka 2003, Banse & Scherer 1996): pitch level and
range, contour shape, tempo, loudness and voice quality (open quotient: tense = bright spectrum,
breathy = more aspiration noise). Intensity 02 exaggerates every deviation from neutral.
Each actor has a fundamental frequency (male odd / female even), speaking rate, vocal-tract length
(formant scale), loudness and stereo balance of its own; each clip adds small random jitter.

The synthesis also returns the per-frame mouth opening and lip rounding that drive the face.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
from scipy import signal

SAMPLE_RATE = 48000

# Vowel formants F1-F3 (Hz, adult male; Peterson & Barney style values) and mouth shape
# (opening 0..1, rounding 0..1). F4, F5 are fixed.
VOWELS: dict[str, tuple[tuple[float, float, float], float, float]] = {
    "ih": ((400, 1900, 2550), 0.35, 0.0),
    "aa": ((730, 1090, 2440), 1.0, 0.0),
    "ao": ((570, 840, 2410), 0.75, 0.7),
    "ah": ((520, 1190, 2390), 0.55, 0.0),
    "ay": ((730, 1090, 2440), 0.9, 0.0),   # glides to "ih"
}
R_COLOUR = (500, 1300, 1700)               # F1-F3 at the end of an r-coloured vowel
FORMANT_BW = (80, 100, 140, 250, 300)      # Hz
F45 = (3500, 4500)

# Consonants: (kind, duration s, band Hz (lo, hi), level relative to the vowel peak).
CONSONANTS: dict[str, tuple[str, float, tuple[float, float], float]] = {
    "k": ("plosive", 0.055, (1500, 3500), 0.35),
    "t": ("plosive", 0.050, (3000, 7000), 0.35),
    "d": ("plosive", 0.040, (2500, 6000), 0.25),
    "b": ("plosive", 0.040, (500, 2000), 0.25),
    "g": ("plosive", 0.045, (1200, 3000), 0.25),
    "s": ("fricative", 0.10, (4500, 9500), 0.30),
    "z": ("fricative", 0.07, (3500, 8500), 0.20),
    "dh": ("fricative", 0.045, (1000, 6000), 0.10),
    "ng": ("nasal", 0.06, (0, 0), 0.25),
    "r": ("glide", 0.0, (0, 0), 0.0),
}

# (onset consonants, vowel, coda consonants, stress 0..1, base duration s of the syllable)
STATEMENTS: dict[int, list[tuple[tuple[str, ...], str, tuple[str, ...], float, float]]] = {
    1: [(("k",), "ih", ("d", "z"), 1.0, 0.30), ((), "aa", ("r",), 0.35, 0.15),
        (("t",), "ao", (), 0.95, 0.21), (("k",), "ih", ("ng",), 0.45, 0.21),
        (("b",), "ay", (), 0.8, 0.23), (("dh",), "ah", (), 0.25, 0.10),
        (("d",), "ao", ("r",), 1.0, 0.36)],
    2: [(("d",), "ao", ("g", "z"), 1.0, 0.31), ((), "aa", ("r",), 0.35, 0.15),
        (("s",), "ih", (), 0.95, 0.22), (("t",), "ih", ("ng",), 0.45, 0.20),
        (("b",), "ay", (), 0.8, 0.23), (("dh",), "ah", (), 0.25, 0.10),
        (("d",), "ao", ("r",), 1.0, 0.36)],
}


@dataclasses.dataclass(frozen=True)
class Prosody:
    """Emotion prosody at intensity 01, relative to the speaker's neutral voice."""

    level_st: float      # mean pitch shift (semitones)
    range_st: float      # size of the stressed-syllable pitch accents (semitones)
    contour: str         # flat | fall | rise | arch: global shape added to declination
    tempo: float         # speaking-rate factor (>1 faster)
    gain_db: float       # loudness
    open_quotient: float  # glottal open quotient (small = tense/bright, large = breathy/dark)
    breath: float        # aspiration noise relative to voicing
    jitter: float        # random pitch perturbation (fraction)
    tremor: float        # 6-8 Hz pitch tremor depth (fraction)
    formant: float       # formant scale (smiling raises, sad lowers)
    contour_mix: tuple[float, ...] | None = None  # amounts of CONTOURS (mixed prosody), else `contour`


PROSODY: dict[int, Prosody] = {
    1: Prosody(0.0, 2.5, "fall", 1.00, 0.0, 0.60, 0.05, 0.006, 0.0, 1.00),    # neutral: mid, flat
    2: Prosody(-1.5, 1.5, "fall", 0.86, -5.0, 0.70, 0.12, 0.004, 0.0, 1.00),  # calm: low, narrow
    3: Prosody(3.5, 6.5, "arch", 1.08, 3.0, 0.52, 0.05, 0.008, 0.0, 1.05),    # happy: high, wide
    4: Prosody(-2.5, 1.2, "fall", 0.76, -8.0, 0.80, 0.25, 0.012, 0.01, 0.97),  # sad: low, slow
    5: Prosody(3.5, 5.0, "fall", 1.18, 9.0, 0.38, 0.03, 0.010, 0.0, 1.03),    # angry: loud, fast
    6: Prosody(5.5, 4.0, "flat", 1.24, 2.0, 0.55, 0.14, 0.025, 0.04, 1.02),   # fearful: jittery
    7: Prosody(-2.0, 3.0, "fall", 0.82, -1.5, 0.62, 0.10, 0.008, 0.0, 0.98),  # disgust: low, slow
    8: Prosody(4.0, 8.0, "rise", 1.00, 5.0, 0.50, 0.06, 0.008, 0.0, 1.03),    # surprised: rising
}
ACCENT = 0.6           # pitch-accent height as a fraction of the emotion's pitch range
MIN_SILENCE = 0.15     # s of silence kept before and after the utterance
STRONG = 1.5            # intensity 02 multiplies every deviation from neutral prosody by this
REFERENCE_RMS = 0.035   # speech RMS (full scale 1.0) of a neutral, average-loudness speaker
NOISE_FLOOR = 6e-4      # room-noise RMS so that silence is not digital zero


@dataclasses.dataclass(frozen=True)
class Voice:
    """One actor's voice (derived from seed and actor number)."""

    f0: float            # neutral mean fundamental frequency (Hz)
    rate: float          # speaking-rate factor
    tract: float         # formant scale (vocal-tract length; female ~1.15)
    gain_db: float       # loudness offset
    balance: tuple[float, float]  # left, right channel gains


def actor_voice(seed: int, actor: int) -> Voice:
    """Voice of ``actor``: male (odd) F0 95-135 Hz, female (even) 175-235 Hz, rate 0.9-1.1."""
    rng = np.random.default_rng([int(seed), int(actor), 2])
    male = actor % 2 == 1
    f0 = rng.uniform(95, 135) if male else rng.uniform(175, 235)
    tract = rng.uniform(0.95, 1.03) * (1.0 if male else 1.15)
    side = rng.uniform(0.78, 0.95)
    balance = (1.0, side) if rng.random() < 0.5 else (side, 1.0)
    return Voice(f0=float(f0), rate=float(rng.uniform(0.9, 1.1)), tract=float(tract),
                 gain_db=float(rng.uniform(-2.5, 2.5)), balance=(float(balance[0]), float(balance[1])))


def utterance_seconds(statement: int, emotion: int, intensity: int, voice: Voice,
                      prosody: Prosody | None = None) -> float:
    """Expected length (s) of the utterance (before the clip's random jitter)."""
    base = sum(s[4] for s in STATEMENTS[statement])
    p = prosody if prosody is not None else prosody_for(emotion, intensity)
    return base / (p.tempo * voice.rate)


def prosody_for(emotion: int, intensity: int) -> Prosody:
    """Emotion prosody; intensity 02 moves each value further from neutral by ``STRONG``."""
    p, n = PROSODY[emotion], PROSODY[1]
    if intensity != 2 or emotion == 1:
        return p
    k = STRONG

    def ex(a: float, b: float) -> float:
        return b + k * (a - b)

    return Prosody(ex(p.level_st, n.level_st), ex(p.range_st, n.range_st), p.contour,
                   float(n.tempo * (p.tempo / n.tempo) ** k), ex(p.gain_db, n.gain_db),
                   float(np.clip(ex(p.open_quotient, n.open_quotient), 0.3, 0.9)),
                   max(0.0, ex(p.breath, n.breath)), max(0.0, ex(p.jitter, n.jitter)),
                   max(0.0, ex(p.tremor, n.tremor)), ex(p.formant, n.formant))


CONTOURS = ("fall", "rise", "arch", "flat")


def contour_weights(p: Prosody) -> np.ndarray:
    """(4,) amounts of the contour shapes in CONTOURS order (a mixed prosody has several)."""
    if p.contour_mix is not None:
        return np.asarray(p.contour_mix, float)
    return np.eye(len(CONTOURS))[CONTOURS.index(p.contour)]


def prosody_mix(w: np.ndarray) -> Prosody:
    """Prosody of a mixture ``w`` (9,) of the emotions' deviations from neutral (style.py).

    Every number is ``neutral + sum_e w[e] * (emotion_e - neutral)`` (tempo in log scale), the
    contour is the same mixture of contour shapes; values are clipped to a sane range.
    """
    n = PROSODY[1]
    es = [e for e in range(2, 9) if w[e]]

    def mixed(attr: str) -> float:
        return float(getattr(n, attr) + sum(w[e] * (getattr(PROSODY[e], attr) - getattr(n, attr))
                                            for e in es))

    tempo = float(np.exp(sum(w[e] * np.log(PROSODY[e].tempo / n.tempo) for e in es))) * n.tempo
    contour = contour_weights(n) + sum(w[e] * (contour_weights(PROSODY[e]) - contour_weights(n))
                                       for e in es)
    return Prosody(mixed("level_st"), max(0.5, mixed("range_st")), CONTOURS[int(np.argmax(contour))],
                   float(np.clip(tempo, 0.5, 1.8)), mixed("gain_db"),
                   float(np.clip(mixed("open_quotient"), 0.3, 0.9)), max(0.0, mixed("breath")),
                   max(0.0, mixed("jitter")), max(0.0, mixed("tremor")),
                   float(np.clip(mixed("formant"), 0.9, 1.1)),
                   tuple(float(c) for c in contour))


@dataclasses.dataclass(frozen=True)
class Nuisance:
    """Per-clip variation of the voice: sd of pitch level (semitones), of the log speaking
    rate and of loudness (dB). The defaults are the gentle values of the clean corpus."""

    pitch_st: float = 0.6
    rate: float = 0.023
    loudness_db: float = 0.8


@dataclasses.dataclass
class Speech:
    """A synthesised clip: stereo audio and the per-frame mouth shape that matches it."""

    audio: np.ndarray        # (samples, 2) float32 in [-1, 1], 48 kHz
    sample_rate: int
    mouth_open: np.ndarray   # (frames,) 0..1 jaw opening
    mouth_round: np.ndarray  # (frames,) 0..1 lip rounding
    f0: np.ndarray           # (samples,) Hz, 0 outside speech
    speech_span: tuple[float, float]  # start, end of speech (s)


def _resonator_sos(freq: float, bw: float, fs: int) -> np.ndarray:
    """One formant resonator as a second-order section with unit gain at 0 Hz."""
    r = np.exp(-np.pi * bw / fs)
    c = 2 * r * np.cos(2 * np.pi * min(freq, 0.45 * fs) / fs)
    g = 1 - c + r * r
    return np.array([g, 0, 0, 1, -c, r * r])


def _formant_filter(x: np.ndarray, formants: tuple[float, ...], fs: int) -> np.ndarray:
    sos = np.stack([_resonator_sos(f, b, fs) for f, b in zip(formants, FORMANT_BW)])
    return signal.sosfilt(sos, x)


@functools.lru_cache(maxsize=64)
def _butter(order: int, cutoff: float | tuple[float, float], btype: str, fs: int) -> np.ndarray:
    """Butterworth design as second-order sections (cached: the same few filters every clip)."""
    return signal.butter(order, cutoff, btype=btype, fs=fs, output="sos")


def _slow_noise(rng: np.random.Generator, n: int, fs: int, rate: int = 200) -> np.ndarray:
    """(n,) smooth unit-variance noise (band-limited to ~rate/4 Hz), drawn at ``rate`` Hz."""
    m = n * rate // fs + 8
    x = signal.sosfilt(_butter(2, rate / 4, "lowpass", rate), rng.standard_normal(m))
    x /= np.std(x) + 1e-12
    return np.interp(np.arange(n) * (rate / fs), np.arange(m), x)


def _band_noise(rng: np.random.Generator, n: int, band: tuple[float, float], fs: int) -> np.ndarray:
    """(n,) unit-RMS white noise band-passed to ``band`` Hz."""
    sos = _butter(2, (float(band[0]), float(min(band[1], 0.45 * fs))), "bandpass", fs)
    x = signal.sosfilt(sos, rng.standard_normal(n + 256))[256:]
    return x / (np.sqrt(np.mean(x ** 2)) + 1e-12)


def _envelope(n: int, attack: int, release: int) -> np.ndarray:
    """(n,) raised-cosine attack and release, flat in between."""
    env = np.ones(n)
    a, r = min(attack, n // 2), min(release, n // 2)
    if a:
        env[:a] = 0.5 - 0.5 * np.cos(np.pi * np.arange(a) / a)
    if r:
        env[n - r:] = 0.5 + 0.5 * np.cos(np.pi * np.arange(r) / r)
    return env


def _glottal(phase: np.ndarray, oq: float) -> np.ndarray:
    """Rosenberg glottal flow (0..1) for cycle phase in [0, 1) and open quotient ``oq``."""
    tp, tn = 0.6 * oq, 0.4 * oq
    th = phase % 1.0
    g = np.zeros_like(th)
    rise = th < tp
    g[rise] = 0.5 - 0.5 * np.cos(np.pi * th[rise] / tp)
    fall = (th >= tp) & (th < tp + tn)
    g[fall] = np.cos(0.5 * np.pi * (th[fall] - tp) / tn)
    return g


def synthesize(statement: int, emotion: int, intensity: int, voice: Voice, n_frames: int,
               fps: float, rng: np.random.Generator, sample_rate: int = SAMPLE_RATE,
               prosody: Prosody | None = None, nuisance: Nuisance = Nuisance()) -> Speech:
    """Synthesise ``n_frames / fps`` seconds of audio holding the statement, centred with jitter.

    ``prosody`` (e.g. :func:`prosody_mix`) replaces the emotion's own prosody; ``nuisance`` sets
    the per-clip pitch, rate and loudness variation. An utterance longer than the clip minus
    ``2 * MIN_SILENCE`` is compressed to fit.
    """
    fs = int(sample_rate)
    n = int(round(n_frames * fs / fps))
    p = prosody if prosody is not None else prosody_for(emotion, intensity)
    sylls = STATEMENTS[statement]
    tempo = p.tempo * voice.rate * float(np.exp(rng.normal(0, nuisance.rate)))
    durs = np.array([s[4] for s in sylls]) / tempo * rng.uniform(0.9, 1.1, len(sylls))
    clip_s = n / fs
    fit = clip_s - 2 * MIN_SILENCE
    if durs.sum() > fit:                                   # very slow speech: squeeze to fit
        tempo *= durs.sum() / fit
        durs *= fit / durs.sum()
    total = float(durs.sum())
    start = (clip_s - total) * rng.uniform(0.4, 0.6)
    bounds = start + np.concatenate([[0.0], np.cumsum(durs)])

    # Pitch contour (semitones around the speaker's F0 for this emotion).
    t = np.arange(n) / fs
    u = np.clip((t - bounds[0]) / total, 0, 1)
    level = p.level_st + rng.normal(0, nuisance.pitch_st)
    st = level + 1.5 - 3.0 * u                                    # declination
    c_fall, c_rise, c_arch, _ = contour_weights(p)
    st += c_rise * p.range_st * 0.9 * np.clip((u - 0.55) / 0.45, 0, 1) ** 2
    st += c_arch * 0.5 * p.range_st * np.sin(np.pi * u)
    st -= c_fall * 0.3 * p.range_st * u
    for k, (_, _, _, stress, _) in enumerate(sylls):
        centre = 0.5 * (bounds[k] + bounds[k + 1])
        width = 0.35 * (bounds[k + 1] - bounds[k])
        w0, w1 = max(int((centre - 4 * width) * fs), 0), min(int((centre + 4 * width) * fs), n)
        st[w0:w1] += ACCENT * stress * p.range_st * rng.uniform(0.6, 1.0) * \
            np.exp(-0.5 * ((t[w0:w1] - centre) / width) ** 2)
    # Jitter (random pitch perturbation, ~50 Hz bandwidth) and tremor.
    f0 = voice.f0 * 2 ** (st / 12) * (1 + p.jitter * _slow_noise(rng, n, fs))
    if p.tremor:
        f0 *= 1 + p.tremor * np.sin(2 * np.pi * rng.uniform(6, 8) * t + rng.uniform(0, 6.3))
    phase = np.cumsum(f0 / fs)
    flow = _glottal(phase, p.open_quotient)
    shim = np.clip(1 + 0.08 * _slow_noise(rng, n, fs, rate=120), 0.5, 1.5)      # shimmer
    src = np.diff(flow, prepend=0.0) * shim
    src /= np.sqrt(np.mean(src ** 2)) + 1e-12
    src += 2.0 * p.breath * flow * rng.standard_normal(n)       # aspiration while the glottis is open

    speech = np.zeros(n)
    open_s = np.zeros(n)
    round_s = np.zeros(n)
    scale = voice.tract * p.formant
    ms = fs // 1000
    for k, (onset, vowel, coda, stress, _) in enumerate(sylls):
        a, b = int(bounds[k] * fs), int(bounds[k + 1] * fs)
        cursor = a
        for c in onset:
            kind, dur, band, lev = CONSONANTS[c]
            m = int(dur / tempo ** 0.5 * fs)
            if kind == "plosive":                                  # closure, then burst
                burst = min(int(0.018 * fs), m // 2)
                b0 = cursor + m - burst
                speech[b0:b0 + burst] += lev * _band_noise(rng, burst, band, fs) * \
                    np.exp(-np.arange(burst) / (0.006 * fs))
            elif kind == "fricative":
                speech[cursor:cursor + m] += (lev * _band_noise(rng, m, band, fs)
                                              * _envelope(m, 8 * ms, 8 * ms))
            cursor += m
        coda_len = sum(int(CONSONANTS[c][1] / tempo ** 0.5 * fs) for c in coda
                       if CONSONANTS[c][0] != "glide")
        v0, v1 = cursor, max(cursor + 20 * ms, b - coda_len)
        formants, opening, rounding = VOWELS[vowel]
        f_start = tuple(f * scale for f in formants)
        if vowel == "ay":
            f_end = tuple(f * scale for f in VOWELS["ih"][0])
        elif "r" in coda:
            f_end = tuple(f * scale for f in R_COLOUR)
        else:
            f_end = f_start
        pad = 10 * ms
        lo, hi = max(v0 - pad, 0), min(v1 + pad, n)
        seg = src[lo:hi]
        ya = _formant_filter(seg, f_start + F45, fs)
        yb = ya if f_end == f_start else _formant_filter(seg, f_end + F45, fs)
        w = np.clip((np.arange(hi - lo) - pad) / max(v1 - v0, 1), 0, 1)
        y = (1 - w) * ya + w * yb
        env = _envelope(hi - lo, 20 * ms, 35 * ms) * (0.7 + 0.3 * stress)
        speech[lo:hi] += y * env
        mouth = opening * (1 - 0.5 * w) if vowel == "ay" else np.full(hi - lo, opening)
        open_s[lo:hi] = np.maximum(open_s[lo:hi], mouth * env)
        round_s[lo:hi] = np.maximum(round_s[lo:hi], rounding * env)
        cursor = v1
        for c in coda:
            kind, dur, band, lev = CONSONANTS[c]
            if kind == "glide":
                continue
            m = min(int(dur / tempo ** 0.5 * fs), n - cursor)
            if m <= 0:
                break
            if kind == "nasal":                                    # low voiced murmur
                y = _formant_filter(src[cursor:cursor + m], (250 * scale, 2300 * scale,
                                                             2800 * scale) + F45, fs)
                speech[cursor:cursor + m] += lev * y * _envelope(m, 5 * ms, 15 * ms)
            elif kind == "plosive":
                burst = min(int(0.012 * fs), m // 2)
                speech[cursor + m - burst:cursor + m] += 0.6 * lev * _band_noise(rng, burst, band, fs)
            else:
                speech[cursor:cursor + m] += (lev * _band_noise(rng, m, band, fs)
                                              * _envelope(m, 6 * ms, 12 * ms))
            cursor += m

    # Loudness: speech RMS over the utterance set by emotion, actor and clip; soft limit at 1.
    span = slice(int(bounds[0] * fs), int(bounds[-1] * fs))
    rms = np.sqrt(np.mean(speech[span] ** 2)) + 1e-12
    gain_db = p.gain_db + voice.gain_db + rng.normal(0, nuisance.loudness_db)
    speech *= REFERENCE_RMS * 10 ** (gain_db / 20) / rms
    speech = np.tanh(speech)
    noise = signal.sosfilt(_butter(1, 4000.0, "lowpass", fs), rng.standard_normal((n, 2)), axis=0)
    noise *= NOISE_FLOOR / (np.std(noise) + 1e-12)
    stereo = speech[:, None] * np.array(voice.balance)[None] + noise
    stereo = np.clip(stereo, -1, 1).astype(np.float32)

    # Mouth shape per video frame: mean over each frame's samples.
    per = n / n_frames
    idx = np.minimum((np.arange(n) / per).astype(int), n_frames - 1)
    count = np.bincount(idx, minlength=n_frames)
    mouth_open = np.bincount(idx, open_s, minlength=n_frames) / count
    mouth_round = np.bincount(idx, round_s, minlength=n_frames) / count
    f0_out = np.where((t >= bounds[0]) & (t < bounds[-1]), f0, 0.0)
    return Speech(audio=stereo, sample_rate=fs, mouth_open=mouth_open, mouth_round=mouth_round,
                  f0=f0_out.astype(np.float32), speech_span=(float(bounds[0]), float(bounds[-1])))

/*
 * Energy VAD: frame level in dBFS, an adaptive noise floor, four-state
 * hysteresis and an echo guard. See voicecore.h for the contract.
 *
 * Echo guard: while the agent talks, caller audio must be louder than the
 * agent's own echo can be. How loud that is depends on the line (a handset
 * returns little, a speakerphone a lot), so it is measured per call: on frames
 * where the agent is sending and the caller is quiet, the level that comes back
 * is (reference - return). The measured return drops to any louder echo (at
 * 3x echo_adapt_db_per_s; at once at the agent's onset) and rises only as far as
 * the line proves (below), so a burst of stronger echo tightens the guard and a
 * quiet line loosens it. Until measured, the guard is reference -
 * echo_margin_db, as a fixed guard would be.
 * A frame over the guard is learned from only in the hold window after the agent
 * began sending (what comes back then is its echo: a caller who was already
 * talking is SPEAKING, not learned from); at other times it may be the caller
 * starting to talk, and a quiet caller must not raise the guard against itself.
 * "Began sending" means audible after a hold's worth of nothing audible, not
 * each rise of its level: speech rises and falls from word to word, and a
 * caller starting over a louder word was learned as echo at once (through
 * Asterisk the greeting was never interrupted).
 *
 * What makes a quiet caller heard soon (issue 16; it grew at 10 dB/s from the
 * unmeasured 18 dB, so a 40 dB line let a -34 dBFS caller through only after
 * ~2 s, and meanwhile the caller's frames under the guard pulled it back up):
 * - Growth by evidence: the return rises at once to the least (reference -
 *   level) over a block of every frame two holds long (the echo of the loudest
 *   part sent comes back within it; a caller only lowers that least).
 * - Not echo: echo is what was sent a fixed delay ago, weaker. Per delay, the
 *   least (sent - level) over the loud frames since the agent's onset stays
 *   above 0 at the line's true delay; a caller talking through the agent's
 *   pauses drives it below 0 at every delay. Then nothing more is learned until
 *   the agent's next onset: a quiet caller under the guard no longer pulls it
 *   up against themselves.
 * - A bound that holds while the caller talks: at the true delay every frame
 *   is at least the echo, so the return is at least (quietest sent - level);
 *   the least over the delays, less a margin, may raise the estimate. It takes
 *   the caller's own pauses, so a caller who started in the greeting's first
 *   300 ms (taken as echo, or under the unmeasured guard) is heard within ~1 s.
 */
#include <math.h>
#include <string.h>

#include "voicecore.h"

/* 20 * log10(32768): a full-scale square wave is 0 dBFS. */
#define FULL_SCALE_DB 90.30899869919435
/* "Nothing seen yet" for the per-delay fit and the block minimum. */
#define UNSEEN_DB 1e9
/* A ring slot no frame was noted in (silence sent is VAD_FLOOR_DBFS). */
#define UNSENT_DB (-200.0)
/* What was sent "k slots ago" spans this many slots: a frame noted in a slot
   lasts 20 ms, so the sources of a 20 ms input frame at any delay start within
   four 10 ms slots. */
#define FIT_SPAN 4
/* The per-delay bound assumes the level is at least the echo; a caller's voice
   can cancel part of it within a frame. */
#define BOUND_MARGIN_DB 3.0

static inline double max2(double a, double b) { return a > b ? a : b; }

double vad_level_dbfs(const char *pcm, size_t nbytes)
{
    size_t n = nbytes / 2;
    int64_t sumsq = 0;
    for (size_t i = 0; i < n; i++) {
        int16_t s;
        /* memcpy: bytes from Python carry no int16 alignment guarantee;
           compilers turn this into a plain load. The wire is little-endian,
           as is every host this runs on (x86-64, aarch64). */
        memcpy(&s, pcm + 2 * i, sizeof s);
        sumsq += (int32_t)s * (int32_t)s;
    }
    if (sumsq == 0) {
        return VAD_FLOOR_DBFS;
    }
    double level = 10.0 * log10((double)sumsq / (double)n) - FULL_SCALE_DB;
    return max2(level, VAD_FLOOR_DBFS);
}

void vad_init(vad_state *vad, const vad_params *params, int32_t sample_rate)
{
    memset(vad, 0, sizeof *vad);
    double rate = (double)sample_rate;
    vad->threshold_db = params->threshold_db;
    vad->min_speech_dbfs = params->min_speech_dbfs;
    vad->floor_rise_per_sample = params->floor_rise_db_per_s / rate;
    vad->floor_fall_per_sample = params->floor_fall_db_per_s / rate;
    vad->initial_floor_dbfs = params->initial_floor_dbfs;
    vad->echo_margin_db = params->echo_margin_db;
    vad->echo_decay_per_sample = params->echo_decay_db_per_s / rate;
    vad->echo_guard_db = params->echo_guard_db;
    vad->echo_adapt_per_sample = params->echo_adapt_db_per_s / rate;
    vad->echo_return_max_db = params->echo_return_max_db;
    vad->echo_onset_drop_db = params->echo_onset_drop_db;
    vad->start_samples = (int64_t)(params->start_ms * rate / 1000.0 + 0.5);
    vad->stop_samples = (int64_t)(params->stop_ms * rate / 1000.0 + 0.5);
    vad->sample_rate = sample_rate;
    vad->echo_slot_samples = sample_rate / 100 > 0 ? sample_rate / 100 : 1;
    /* The slot being filled plus enough whole 10 ms slots to cover the hold;
       the ring keeps FIT_SPAN + 1 more, so the fit covers delays up to the hold. */
    int nslots = (int)ceil(params->echo_hold_ms / 10.0) + 1;
    int ring = nslots + FIT_SPAN + 1;
    vad->echo_nslots = nslots < 1 ? 1 : (nslots > VAD_ECHO_SLOTS ? VAD_ECHO_SLOTS : nslots);
    vad->echo_ring = ring > VAD_ECHO_SLOTS ? VAD_ECHO_SLOTS : ring;
    vad_reset(vad);
}

void vad_reset(vad_state *vad)
{
    vad->state = VAD_QUIET;
    vad->run_samples = 0;
    vad->level_dbfs = VAD_FLOOR_DBFS;
    vad->noise_floor_dbfs = vad->initial_floor_dbfs;
    vad->threshold_dbfs =
        max2(vad->min_speech_dbfs, vad->initial_floor_dbfs + vad->threshold_db);
    vad->echo_ref_dbfs = VAD_FLOOR_DBFS;
    /* Unmeasured: the guard starts where a fixed reference - margin would be. */
    vad->echo_return_db = vad->echo_margin_db + vad->echo_guard_db;
    vad->echo_onset_left = 0;
    vad->echo_onset_from_db = vad->echo_return_db;
    vad->echo_audible = 0;
    vad->echo_head = 0;
    vad->echo_fill = 0;
    for (int i = 0; i < VAD_ECHO_SLOTS; i++) {
        vad->echo_slots[i] = UNSENT_DB;
        vad->echo_fit_db[i] = UNSEEN_DB;
        vad->echo_bound_db[i] = -UNSEEN_DB;
    }
    vad->echo_not_echo = 0;
    vad->echo_block_min_db = UNSEEN_DB;
    vad->echo_block_left = 2 * (int64_t)vad->echo_nslots * vad->echo_slot_samples;
}

void vad_note_output(vad_state *vad, const char *pcm, size_t nbytes)
{
    double level = vad_level_dbfs(pcm, nbytes);
    if (level > vad->echo_slots[vad->echo_head]) {
        vad->echo_slots[vad->echo_head] = level;
    }
}

/* Age the echo ring by n input samples and return the held-then-decaying
   reference; *sending: a frame was sent within the hold (not a decaying tail).
   The onset window opens when something louder than `audible` (the speech
   threshold: quieter output cannot echo into speech) was sent within the hold
   after a hold with nothing that loud.
   The input audio is the clock: Asterisk delivers it in real time. */
static double echo_reference(vad_state *vad, int64_t n, double audible, int *sending)
{
    int64_t fill = vad->echo_fill + n;
    int32_t nslots = vad->echo_nslots, ring = vad->echo_ring;
    int64_t rotations = fill / vad->echo_slot_samples;
    vad->echo_fill = (int32_t)(fill % vad->echo_slot_samples);
    if (rotations >= ring) {
        for (int32_t i = 0; i < ring; i++) {
            vad->echo_slots[i] = UNSENT_DB;
        }
    } else {
        for (int64_t r = 0; r < rotations; r++) {
            vad->echo_head = vad->echo_head + 1 == ring ? 0 : vad->echo_head + 1;
            vad->echo_slots[vad->echo_head] = UNSENT_DB;
        }
    }
    /* The newest nslots slots, head back (the ring keeps older ones for the
       fit); two straight runs rather than a wrap test per slot. */
    double held = VAD_FLOOR_DBFS;
    int32_t first = vad->echo_head - nslots + 1;
    for (int32_t i = first > 0 ? first : 0; i <= vad->echo_head; i++) {
        held = max2(held, vad->echo_slots[i]);
    }
    for (int32_t i = first < 0 ? ring + first : ring; i < ring; i++) {
        held = max2(held, vad->echo_slots[i]);
    }
    double decayed = vad->echo_ref_dbfs - vad->echo_decay_per_sample * (double)n;
    *sending = held > VAD_FLOOR_DBFS && held >= decayed;
    int heard = held > audible;
    if (heard && !vad->echo_audible) {
        vad->echo_onset_left = (int64_t)nslots * vad->echo_slot_samples;
        vad->echo_onset_from_db = vad->echo_return_db;
        vad->echo_not_echo = 0;
        for (int32_t k = 0; k < ring; k++) {
            vad->echo_fit_db[k] = UNSEEN_DB;
            vad->echo_bound_db[k] = -UNSEEN_DB;
        }
    } else {
        vad->echo_onset_left = vad->echo_onset_left > n ? vad->echo_onset_left - n : 0;
    }
    vad->echo_audible = heard;
    vad->echo_ref_dbfs = max2(held, max2(decayed, VAD_FLOOR_DBFS));
    return vad->echo_ref_dbfs;
}

/* Learn the echo return from a frame where only the agent can be heard. */
static void learn_echo_return(vad_state *vad, double ref, double level, int64_t n, int onset)
{
    double seen = ref - level; /* >= the true return: noise only adds level */
    double step = vad->echo_adapt_per_sample * (double)n;
    /* Down to a louder echo: at onset at once, by up to echo_onset_drop_db (a
       caller who starts talking as the agent does must not pin the guard at their
       own level for the whole utterance; a line whose echo really got that much
       stronger is learned over the next onsets, and at the first one the start
       value is a fixed guard's); later at 3x echo_adapt_db_per_s (a quiet caller
       under the guard must not ratchet it up against themselves within a
       sentence). Up only by the block below: growing at a fixed rate between
       the echo's peaks let a 6 dB line's estimate wander up to 8.6 dB. */
    double shrunk = onset ? max2(seen, vad->echo_onset_from_db - vad->echo_onset_drop_db)
                          : vad->echo_return_db - 3.0 * step;
    double next = seen < vad->echo_return_db ? max2(seen, shrunk) : vad->echo_return_db;
    vad->echo_return_db = next < vad->echo_return_max_db ? next : vad->echo_return_max_db;
}

/* Growth by evidence: every frame of a block two holds long came back at least
   block_min under the reference, so the echo of the loudest part sent in it did
   too. Every frame: a caller only adds level (lowers block_min), while leaving
   out the frames over the guard could leave out the echo's loudest. */
static void grow_by_block(vad_state *vad, double seen, int64_t n)
{
    if (seen < vad->echo_block_min_db) {
        vad->echo_block_min_db = seen;
    }
    vad->echo_block_left -= n;
    if (vad->echo_block_left <= 0) {
        double block = vad->echo_block_min_db < vad->echo_return_max_db
                           ? vad->echo_block_min_db : vad->echo_return_max_db;
        vad->echo_return_db = max2(vad->echo_return_db, block);
        vad->echo_block_min_db = UNSEEN_DB;
        vad->echo_block_left = 2 * (int64_t)vad->echo_nslots * vad->echo_slot_samples;
    }
}

/* Per delay k since the agent's onset (the top of the file): fit_k, the least
   (loudest sent in the span - level) over loud frames; bound_k, the most
   (quietest sent in the span - level) over all frames: at the true delay the
   level is at least the echo, so the line's return is at least bound_k. Sets
   *bound to the least bound_k (-UNSEEN_DB until every delay had something
   sent); returns whether some delay still fits echo. */
static int fit_delays(vad_state *vad, double level, int loud, double *bound)
{
    int32_t ring = vad->echo_ring, nslots = vad->echo_nslots, fits = 0;
    /* The ring newest first, each slot as sent: a 20 ms frame lasts into the
       next slot; if none was noted in the one before either, nothing was sent
       then (before the agent started, say) and the echo may be nothing. */
    double sent[VAD_ECHO_SLOTS];
    for (int32_t j = 0, i = vad->echo_head; j < nslots + FIT_SPAN - 1; j++) {
        int32_t older = i ? i - 1 : ring - 1;
        sent[j] = vad->echo_slots[i] == UNSENT_DB ? vad->echo_slots[older] : vad->echo_slots[i];
        i = older;
    }
    double least = UNSEEN_DB;
    for (int32_t k = 0; k < nslots; k++) {
        double hi = sent[k], lo = sent[k];
        for (int32_t j = 1; j < FIT_SPAN; j++) {
            hi = max2(hi, sent[k + j]);
            lo = sent[k + j] < lo ? sent[k + j] : lo;
        }
        if (loud && hi - level < vad->echo_fit_db[k]) {
            vad->echo_fit_db[k] = hi - level;
        }
        fits |= vad->echo_fit_db[k] >= 0.0;
        if (k == 0) {
            continue; /* the slot being filled: its frame may not be noted yet */
        }
        if (lo - level > vad->echo_bound_db[k]) {
            vad->echo_bound_db[k] = lo - level;
        }
        least = vad->echo_bound_db[k] < least ? vad->echo_bound_db[k] : least;
    }
    *bound = nslots > 1 ? least : -UNSEEN_DB; /* no delay to bound with so short a hold */
    return fits;
}

int vad_process(vad_state *vad, const char *pcm, size_t nbytes)
{
    int64_t n = (int64_t)(nbytes / 2);
    if (n == 0) {
        return VAD_NONE;
    }
    double level = vad_level_dbfs(pcm, nbytes);
    double floor_db = vad->noise_floor_dbfs;
    double base = max2(vad->min_speech_dbfs, floor_db + vad->threshold_db);
    int sending;
    double ref = echo_reference(vad, n, base, &sending);
    double echo = ref - vad->echo_return_db + vad->echo_guard_db;
    double threshold = max2(base, echo);
    /* Only the agent: it is sending clearly above the noise and the caller is quiet
       (a frame over the threshold may be the caller starting, except at onset). */
    int onset = vad->echo_onset_left > 0 && vad->state <= VAD_STARTING;
    int adapt = vad->echo_adapt_per_sample > 0.0; /* 0: a fixed guard */
    /* The per-delay fit matters for loud frames until every delay is ruled out;
       the bound can only rise past the estimate on a frame quieter than the
       estimate allows. Other frames skip the loop (most of them). */
    int loud = level > base && !vad->echo_not_echo;
    int revealing = level < ref - vad->echo_return_db - BOUND_MARGIN_DB
                    && vad->echo_return_db < vad->echo_return_max_db;
    if (sending && adapt && (loud || revealing)) {
        double bound;
        if (!fit_delays(vad, level, loud, &bound) && loud) {
            /* The caller is talking: learn nothing from them until the next onset. */
            vad->echo_not_echo = 1;
        }
        bound -= BOUND_MARGIN_DB;
        if (bound > vad->echo_return_db) {
            /* Proven even while the caller talks: a caller who started in the
               window after the greeting's onset was taken for echo. */
            vad->echo_return_db = bound < vad->echo_return_max_db ? bound : vad->echo_return_max_db;
            echo = ref - vad->echo_return_db + vad->echo_guard_db;
            threshold = max2(base, echo);
        }
    }
    int learn = sending && ref > base && adapt;
    if (learn) {
        grow_by_block(vad, ref - level, n);
    }
    if (learn && !vad->echo_not_echo && (onset || (vad->state == VAD_QUIET && level <= threshold))) {
        learn_echo_return(vad, ref, level, n, onset);
        echo = ref - vad->echo_return_db + vad->echo_guard_db;
        threshold = max2(base, echo);
    }
    int speaking = vad->state >= VAD_SPEAKING;
    vad->level_dbfs = level;
    vad->threshold_dbfs = threshold;

    /* Noise floor: down quickly to any quieter level (even mid-speech, in
       the gaps); up slowly, and only when neither speech nor our own echo
       can be what raised the level. */
    if (level < floor_db) {
        vad->noise_floor_dbfs = max2(level, floor_db - vad->floor_fall_per_sample * (double)n);
    } else if (!speaking && echo <= base) {
        double risen = floor_db + vad->floor_rise_per_sample * (double)n;
        vad->noise_floor_dbfs = risen < level ? risen : level;
    }

    int result = VAD_NONE;
    if (level > threshold) {
        if (vad->state == VAD_QUIET) {
            vad->state = VAD_STARTING;
            vad->run_samples = 0;
        }
        if (vad->state == VAD_STARTING) {
            vad->run_samples += n;
            if (vad->run_samples >= vad->start_samples) {
                vad->state = VAD_SPEAKING;
                result = VAD_SPEECH_START;
            }
        } else {
            vad->state = VAD_SPEAKING; /* a loud frame cancels STOPPING */
        }
    } else {
        if (vad->state == VAD_SPEAKING) {
            vad->state = VAD_STOPPING;
            vad->run_samples = 0;
        }
        if (vad->state == VAD_STOPPING) {
            vad->run_samples += n;
            if (vad->run_samples >= vad->stop_samples) {
                vad->state = VAD_QUIET;
                result = VAD_SPEECH_END;
            }
        } else {
            vad->state = VAD_QUIET; /* a quiet frame cancels STARTING */
        }
    }
    return result;
}

/*
 * voicecore: the C core of the voice agent.
 *
 * Pure and deterministic: no allocation, no clock reads, no I/O, no globals.
 * The caller owns every state struct (cffi: ffi.new), so nothing needs freeing.
 * The one exception is the pacer's wake-up timer (pacetimer.c), a kernel
 * timerfd: a descriptor the caller's event loop waits on.
 * Time is always an argument: the VAD's clock is the audio it is given
 * (samples), the pacer's clock is `now_us` (int64 microseconds).
 *
 * Keep csrc/voicecore.cdef in step with this file: cffi's API mode compiles
 * the cdef against this header, so any drift is a compile error.
 */
#ifndef VOICECORE_H
#define VOICECORE_H

#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- VAD -- */

/* Level reported for digital silence instead of -inf. */
#define VAD_FLOOR_DBFS (-100.0)
/* Echo guard ring: one slot per 10 ms of input, enough for a 600 ms hold plus
   the per-delay fit's span (see vad.c). */
#define VAD_ECHO_SLOTS 72

#define VAD_QUIET 0
#define VAD_STARTING 1
#define VAD_SPEAKING 2
#define VAD_STOPPING 3

#define VAD_NONE 0
#define VAD_SPEECH_START 1
#define VAD_SPEECH_END 2

typedef struct {
    double threshold_db;        /* speech must exceed the noise floor by this */
    double min_speech_dbfs;     /* ...and this absolute level */
    double start_ms;            /* loud audio needed before speech starts */
    double stop_ms;             /* quiet audio needed before speech ends */
    double floor_rise_db_per_s; /* noise floor tracking upward (slow) */
    double floor_fall_db_per_s; /* noise floor tracking downward (fast) */
    double initial_floor_dbfs;
    double echo_margin_db;      /* until measured: threshold >= sent reference - this */
    double echo_hold_ms;        /* sent reference held this long... */
    double echo_decay_db_per_s; /* ...then decays at this rate */
    double echo_guard_db;       /* threshold >= measured echo level + this */
    double echo_adapt_db_per_s; /* measured echo return may grow this fast... */
    double echo_return_max_db;  /* ...up to this */
    double echo_onset_drop_db;  /* at the agent's onset it may drop at once by at most this */
} vad_params;

typedef struct {
    /* derived from vad_params and the sample rate by vad_init */
    double threshold_db;
    double min_speech_dbfs;
    double floor_rise_per_sample;
    double floor_fall_per_sample;
    double initial_floor_dbfs;
    double echo_margin_db;
    double echo_decay_per_sample;
    double echo_guard_db;
    double echo_adapt_per_sample;
    double echo_return_max_db;
    double echo_onset_drop_db;
    int64_t start_samples;
    int64_t stop_samples;
    int32_t sample_rate;
    int32_t echo_slot_samples;
    int32_t echo_nslots;      /* ring slots within the hold */
    int32_t echo_ring;        /* ring slots kept (the hold plus the fit's span) */
    /* running state */
    int32_t state;            /* VAD_QUIET .. VAD_STOPPING */
    int64_t run_samples;      /* samples spent in STARTING or STOPPING */
    double level_dbfs;        /* level of the last processed frame */
    double noise_floor_dbfs;
    double threshold_dbfs;    /* threshold used for the last frame */
    double echo_ref_dbfs;     /* held-then-decaying maximum of sent levels */
    double echo_return_db;    /* measured: how far below the reference the echo comes back */
    int64_t echo_onset_left;  /* samples left of the window after the agent began sending */
    double echo_onset_from_db; /* the measured return when that window opened */
    int32_t echo_audible;     /* sent within the hold: a level that can echo into speech */
    int32_t echo_head;        /* ring slot collecting the current 10 ms */
    int32_t echo_fill;        /* input samples into the current slot */
    double echo_slots[72];    /* max sent level per 10 ms slot */
    /* Per delay k (10 ms slots): the least (sent around k ago - level) over the
       loud frames since the agent's onset; < 0 at every k: not its echo. */
    double echo_fit_db[72];
    double echo_bound_db[72]; /* per delay: the return is at least this */
    int32_t echo_not_echo;    /* every delay ruled out since the onset: the caller is there */
    double echo_block_min_db; /* least return seen over the current block of learned frames */
    int64_t echo_block_left;  /* learned samples left in that block */
} vad_state;

/* Level in dBFS of int16 little-endian samples (full-scale square = 0 dBFS),
 * clamped at VAD_FLOOR_DBFS. `nbytes` odd: the last byte is ignored. */
double vad_level_dbfs(const char *pcm, size_t nbytes);

void vad_init(vad_state *vad, const vad_params *params, int32_t sample_rate);
/* Back to the state vad_init left (parameters kept). */
void vad_reset(vad_state *vad);
/* One frame of caller audio; returns VAD_NONE, VAD_SPEECH_START or VAD_SPEECH_END. */
int vad_process(vad_state *vad, const char *pcm, size_t nbytes);
/* One frame we just sent to the caller: the echo guard's reference. */
void vad_note_output(vad_state *vad, const char *pcm, size_t nbytes);

/* -------------------------------------------------------------- pacer -- */

typedef struct {
    int64_t frame_us;
    int64_t burst_frames;
    int64_t late_us;
} pacer_params;

typedef struct {
    int64_t frame_us;
    int64_t burst_frames;
    int64_t late_us;
    /* Time at which the bucket would hold zero credit: credit(now) = now - empty_us. */
    int64_t empty_us;
    int64_t frames_sent;
    int64_t late_frames;
} pacer_state;

void pacer_init(pacer_state *pacer, const pacer_params *params, int64_t now_us);
/* Re-phase: the next frame (and up to burst_frames) may go at once. Counters kept. */
void pacer_reset(pacer_state *pacer, int64_t now_us);
/* Earliest time the next frame may go (<= now_us means now). */
int64_t pacer_due_us(const pacer_state *pacer, int64_t now_us);
/* One frame went out at now_us. */
void pacer_sent(pacer_state *pacer, int64_t now_us);

/* -------------------------------------------------------- pacer timer -- */

/* A CLOCK_MONOTONIC timerfd (non-blocking, close-on-exec): its descriptor, or
   -errno (-ENOSYS where there is no timerfd). Close it with close(). */
int pacer_timer_open(void);
/* Fire once after_ns from now (<= 0: at once); an expiry not yet read is
   cleared. 0, or -errno. */
int pacer_timer_arm(int fd, int64_t after_ns);
/* Never fire (and clear an expiry not yet read). 0, or -errno. */
int pacer_timer_disarm(int fd);

#endif

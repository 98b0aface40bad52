/*
 * Token-bucket pacer for fixed-length frames. See voicecore.h.
 *
 * The bucket holds microseconds of credit that accrue at real-time rate;
 * a frame costs frame_us. It is stored as the time the bucket would be
 * empty (credit(now) = now - empty_us), so credit never needs updating
 * between calls and due times stay on an absolute grid: a wake-up that is
 * a little late keeps its fraction of a frame and the grid does not drift.
 *
 * The cap is burst_frames whole frames plus less than one frame of
 * lateness: after a stall, whole frames of missed credit are dropped (no
 * catch-up burst beyond the configured burst) while the grid's phase is kept.
 */
#include "voicecore.h"

/* empty_us after dropping the whole frames of credit beyond the burst. */
static int64_t capped_empty_us(const pacer_state *pacer, int64_t now_us)
{
    int64_t credit = now_us - pacer->empty_us;
    int64_t cap = pacer->burst_frames * pacer->frame_us;
    if (credit < cap + pacer->frame_us) {
        return pacer->empty_us;
    }
    int64_t excess_frames = (credit - cap) / pacer->frame_us;
    return pacer->empty_us + excess_frames * pacer->frame_us;
}

void pacer_init(pacer_state *pacer, const pacer_params *params, int64_t now_us)
{
    pacer->frame_us = params->frame_us;
    pacer->burst_frames = params->burst_frames;
    pacer->late_us = params->late_us;
    pacer->frames_sent = 0;
    pacer->late_frames = 0;
    pacer_reset(pacer, now_us);
}

void pacer_reset(pacer_state *pacer, int64_t now_us)
{
    /* A full bucket: burst_frames may go at once, the first one now. */
    pacer->empty_us = now_us - pacer->burst_frames * pacer->frame_us;
}

int64_t pacer_due_us(const pacer_state *pacer, int64_t now_us)
{
    return capped_empty_us(pacer, now_us) + pacer->frame_us;
}

void pacer_sent(pacer_state *pacer, int64_t now_us)
{
    /* Late: the bucket had been full for more than late_us, i.e. credit was
       being lost (with burst 1: sent more than late_us after its due time). */
    int64_t overflow = now_us - pacer->empty_us - pacer->burst_frames * pacer->frame_us;
    if (overflow > pacer->late_us) {
        pacer->late_frames++;
    }
    pacer->empty_us = capped_empty_us(pacer, now_us) + pacer->frame_us;
    pacer->frames_sent++;
}

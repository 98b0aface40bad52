/*
 * The pacer's wake-up timer: a kernel timer with sub-millisecond precision.
 * See voicecore.h.
 *
 * Why: an event loop's own timeouts go through epoll_wait, whose timeout is in
 * whole milliseconds (Python rounds it up), so a frame due 0.3 ms from now wakes
 * its sender up to a millisecond late and the 20 ms grid jitters by that much.
 * A timerfd armed in nanoseconds is just another readable descriptor to the
 * loop, and wakes it within the kernel's timer slack (~50 us).
 */
/* -std=c99 hides POSIX: CLOCK_MONOTONIC needs it (before any header). */
#define _POSIX_C_SOURCE 200809L
#include "voicecore.h"

#ifdef __linux__
#include <errno.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

int pacer_timer_open(void)
{
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    return fd >= 0 ? fd : -errno;
}

int pacer_timer_arm(int fd, int64_t after_ns)
{
    /* A zero it_value disarms, so "now" is the smallest delay the kernel takes. */
    if (after_ns < 1) {
        after_ns = 1;
    }
    struct itimerspec when = {
        .it_interval = {0, 0},
        .it_value = {(time_t)(after_ns / 1000000000), (long)(after_ns % 1000000000)},
    };
    /* Setting the timer also clears an expiry not yet read: the descriptor is
       readable again only when this one fires. */
    return timerfd_settime(fd, 0, &when, NULL) == 0 ? 0 : -errno;
}

int pacer_timer_disarm(int fd)
{
    struct itimerspec never = {{0, 0}, {0, 0}};
    return timerfd_settime(fd, 0, &never, NULL) == 0 ? 0 : -errno;
}

#else /* no timerfd: the caller falls back to its event loop's own timeouts */
#include <errno.h>

int pacer_timer_open(void) { return -ENOSYS; }
int pacer_timer_arm(int fd, int64_t after_ns) { (void)fd; (void)after_ns; return -ENOSYS; }
int pacer_timer_disarm(int fd) { (void)fd; return -ENOSYS; }
#endif

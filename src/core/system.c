/*
** Threads, clock and resource usage.
*/
#include <omp.h>          /* omp_set_num_threads */
#include <sys/resource.h> /* getrusage */
#include <time.h>         /* clock_gettime */

#include "quantkit/core.h"

void qk_threads_set(int n) {
    if (n <= 0) n = omp_get_num_procs();
    omp_set_num_threads(n);
}

int qk_threads_get(void) {
    return omp_get_max_threads();
}

size_t qk_peak_rss_bytes(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (size_t)ru.ru_maxrss * 1024u; /* Linux reports kilobytes */
}

double qk_time_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/*
** CPU feature detection (cpuid + xgetbv) and the run-time choice of the
** kernels' instruction-set level. Detected once; the table is the only
** global state the library keeps besides the OpenMP thread pool.
*/
#include <stdlib.h> /* getenv */
#include <string.h> /* strcmp */

#include "quantkit/core.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h> /* __get_cpuid_count */

static uint64_t read_xcr0(void) {
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
}

static void detect(qk_cpu_features *f) {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(1, 0, &a, &b, &c, &d)) return;
    const bool osxsave = (c >> 27) & 1u;
    f->sse42 = (c >> 20) & 1u;
    f->fma = (c >> 12) & 1u;
    f->f16c = (c >> 29) & 1u;
    const bool avx_hw = (c >> 28) & 1u;
    uint64_t xcr0 = osxsave ? read_xcr0() : 0;
    const bool os_ymm = (xcr0 & 0x6u) == 0x6u;   /* XMM and YMM state */
    const bool os_zmm = (xcr0 & 0xE6u) == 0xE6u; /* plus opmask, ZMM_Hi256, Hi16_ZMM */
    f->avx = avx_hw && os_ymm;
    if (!f->avx) f->fma = f->f16c = false;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return;
    f->avx2 = f->avx && ((b >> 5) & 1u);
    f->bmi2 = (b >> 8) & 1u;
    f->avx512f = os_zmm && ((b >> 16) & 1u);
    f->avx512dq = f->avx512f && ((b >> 17) & 1u);
    f->avx512bw = f->avx512f && ((b >> 30) & 1u);
    f->avx512vl = f->avx512f && ((b >> 31) & 1u);
    f->avx512vnni = f->avx512f && ((c >> 11) & 1u);
    if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) f->avx512bf16 = f->avx512f && ((a >> 5) & 1u);
}
#else
static void detect(qk_cpu_features *f) {
    (void)f;
}
#endif

static qk_cpu_features features;
static qk_isa chosen_isa;

static qk_isa isa_from_features(const qk_cpu_features *f) {
    if (f->avx512f && f->avx512bw && f->avx512vl && f->avx512dq && f->avx512vnni && f->avx2 &&
        f->fma && f->f16c)
        return QK_ISA_AVX512;
    if (f->avx2 && f->fma && f->f16c) return QK_ISA_AVX2;
    return QK_ISA_REF;
}

static void init_once(void) {
    detect(&features);
    qk_isa isa = isa_from_features(&features);
    const char *force_ref = getenv("QK_FORCE_REF");
    const char *cap = getenv("QK_ISA");
    if (force_ref && force_ref[0] && strcmp(force_ref, "0") != 0) isa = QK_ISA_REF;
    if (cap) {
        qk_isa want = isa;
        if (strcmp(cap, "ref") == 0)
            want = QK_ISA_REF;
        else if (strcmp(cap, "avx2") == 0)
            want = QK_ISA_AVX2;
        else if (strcmp(cap, "avx512") == 0)
            want = QK_ISA_AVX512;
        if (want < isa) isa = want; /* never above what the CPU has */
    }
    chosen_isa = isa;
}

#include <pthread.h> /* pthread_once */
static pthread_once_t once = PTHREAD_ONCE_INIT;

const qk_cpu_features *qk_cpu_get_features(void) {
    pthread_once(&once, init_once);
    return &features;
}

qk_isa qk_isa_get(void) {
    pthread_once(&once, init_once);
    return chosen_isa;
}

const char *qk_isa_name(qk_isa isa) {
    switch (isa) {
    case QK_ISA_REF:
        return "ref";
    case QK_ISA_AVX2:
        return "avx2";
    case QK_ISA_AVX512:
        return "avx512";
    }
    return "?";
}

/* FP32 FMA throughput of one core: independent AVX-512 (or AVX2) FMA chains, no memory traffic.
   benchmarks/peak.py compiles it with -march=native and runs one copy per core at once. The chains fill the
   register file without spilling (24 of 32 zmm, 12 of 16 ymm): enough to cover the FMA latency x 2 pipes. */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

#if defined(__AVX512F__)
typedef __m512 vec;
#define LANES 16
#define SET1 _mm512_set1_ps
#define FMA _mm512_fmadd_ps
#define SUM(v) _mm512_reduce_add_ps(v)
#define CHAINS 24
#else
typedef __m256 vec;
#define LANES 8
#define SET1 _mm256_set1_ps
#define FMA _mm256_fmadd_ps
#define SUM(v) ((v)[0])
#define CHAINS 12
#endif

int main(void) {
    vec acc[CHAINS], b = SET1(1.0000001f), c = SET1(1e-7f);
    for (int i = 0; i < CHAINS; i++) acc[i] = SET1((float)i);
    long n = 100000000;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long k = 0; k < n; k++) {
#pragma GCC unroll 24  /* >= CHAINS */
        for (int i = 0; i < CHAINS; i++) acc[i] = FMA(acc[i], b, c);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    float r = 0;
    for (int i = 0; i < CHAINS; i++) r += SUM(acc[i]);
    printf("%.2f %g\n", (double)n * CHAINS * LANES * 2 / s / 1e9, (double)r);  /* GFLOP/s, and a use of acc */
    return 0;
}

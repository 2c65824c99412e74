/*
 * families.h - one copy of a kernels header per vector family of vec.h.
 *
 * Define PG_FAMILY_KERNELS as the header's name and include this: its
 * kernels come out as name_scalar (1 double, any compiler), name_vec2 (2
 * doubles: the build's own flags, SSE2 or NEON) and, on x86 with GCC or
 * Clang, name_avx (4 doubles, built for AVX; PG_AVX_FAMILY says so). Each
 * lane rounds as the scalar operation would, so every family gives the same
 * bits; layers.c picks the one that runs (pg_simd_family). No include
 * guard: each kernels header is included through here once.
 */
#define VT pg_d1
#define VF(op) d1_##op
#define VW 1
#define KERNEL(name) name##_scalar
#define KERNEL_TARGET
#include PG_FAMILY_KERNELS
#undef KERNEL
#undef KERNEL_TARGET
#undef VT
#undef VF
#undef VW

#if defined(PG_VECTORS)
#define VT pg_d2
#define VF(op) d2_##op
#define VW 2
#define KERNEL(name) name##_vec2
#define KERNEL_TARGET
#include PG_FAMILY_KERNELS
#undef KERNEL
#undef KERNEL_TARGET
#undef VT
#undef VF
#undef VW
#endif

#if defined(PG_VECTORS) && (defined(__x86_64__) || defined(__i386__)) \
    && !defined(PG_NO_AVX)   /* -DPG_NO_AVX: a build without the AVX kernels */
#define VT pg_d4
#define VF(op) d4_##op
#define VW 4
#define KERNEL(name) name##_avx
#define KERNEL_TARGET __attribute__((target("avx")))
#include PG_FAMILY_KERNELS
#undef KERNEL
#undef KERNEL_TARGET
#undef VT
#undef VF
#undef VW
#ifndef PG_AVX_FAMILY
#define PG_AVX_FAMILY 1
#endif
#endif

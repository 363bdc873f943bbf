//go:build cgo && libjpeg

// The forward and inverse DCTs of the blocks a caption repaints, in C so
// that the compiler vectorizes them: each one-dimensional pass runs on
// eight columns at once, four floats a register (SSE2, or NEON), where the
// Go versions ran one value at a time (about 600 ns for the two, against
// 150 here). libjpeg-turbo has SIMD DCTs, but they are internal to it (its
// public API decodes and encodes whole pictures, never one block), so these
// are written here: the AAN scaled transforms in single precision, as
// libjpeg's jfdctflt.c and jidctflt.c compute them, with the AAN scale
// factors folded into the (de)quantization tables (fg_dct_tables).

// -O3: cgo compiles at -O2, where GCC 12 vectorizes the column passes
// but not the rest (BenchmarkDCT: 300 ns a block at -O3, 340-425 at -O2).
#pragma GCC optimize("O3")

#include <stdint.h>
#include "dct.h"

// aan[k] = cos(kπ/16)·√2 (1 for k = 0).
static const double aan[8] = {1.0, 1.387039845, 1.306562965, 1.175875602, 1.0, 0.785694958, 0.541196100, 0.275899379};

void fg_dct_tables(const uint16_t *q, float *mul, float *div) {
	for (int u = 0; u < 8; u++) {
		for (int v = 0; v < 8; v++) {
			double s = (double)q[u * 8 + v] * aan[u] * aan[v];
			mul[u * 8 + v] = (float)(s / 8);
			div[u * 8 + v] = (float)(1 / (s * 8));
		}
	}
}

static inline void transpose(float *w) {
	for (int i = 0; i < 8; i++) {
		for (int j = i + 1; j < 8; j++) {
			float t = w[i * 8 + j];
			w[i * 8 + j] = w[j * 8 + i];
			w[j * 8 + i] = t;
		}
	}
}

// fdct_cols transforms each of the eight columns of w (along its rows).
static inline void fdct_cols(float *restrict w) {
	for (int c = 0; c < 8; c++) {
		float d0 = w[c], d1 = w[8 + c], d2 = w[16 + c], d3 = w[24 + c];
		float d4 = w[32 + c], d5 = w[40 + c], d6 = w[48 + c], d7 = w[56 + c];
		float tmp0 = d0 + d7, tmp7 = d0 - d7;
		float tmp1 = d1 + d6, tmp6 = d1 - d6;
		float tmp2 = d2 + d5, tmp5 = d2 - d5;
		float tmp3 = d3 + d4, tmp4 = d3 - d4;
		// Even part.
		float tmp10 = tmp0 + tmp3, tmp13 = tmp0 - tmp3;
		float tmp11 = tmp1 + tmp2, tmp12 = tmp1 - tmp2;
		w[c] = tmp10 + tmp11;
		w[32 + c] = tmp10 - tmp11;
		float z1 = (tmp12 + tmp13) * 0.707106781f;
		w[16 + c] = tmp13 + z1;
		w[48 + c] = tmp13 - z1;
		// Odd part.
		tmp10 = tmp4 + tmp5;
		tmp11 = tmp5 + tmp6;
		tmp12 = tmp6 + tmp7;
		float z5 = (tmp10 - tmp12) * 0.382683433f;
		float z2 = 0.541196100f * tmp10 + z5;
		float z4 = 1.306562965f * tmp12 + z5;
		float z3 = tmp11 * 0.707106781f;
		float z11 = tmp7 + z3, z13 = tmp7 - z3;
		w[40 + c] = z13 + z2;
		w[24 + c] = z13 - z2;
		w[8 + c] = z11 + z4;
		w[56 + c] = z11 - z4;
	}
}

// idct_cols inverse-transforms each of the eight columns of w.
static inline void idct_cols(float *restrict w) {
	for (int c = 0; c < 8; c++) {
		float in0 = w[c], in1 = w[8 + c], in2 = w[16 + c], in3 = w[24 + c];
		float in4 = w[32 + c], in5 = w[40 + c], in6 = w[48 + c], in7 = w[56 + c];
		// Even part.
		float tmp10 = in0 + in4, tmp11 = in0 - in4;
		float tmp13 = in2 + in6;
		float tmp12 = (in2 - in6) * 1.414213562f - tmp13;
		float t0 = tmp10 + tmp13, t3 = tmp10 - tmp13;
		float t1 = tmp11 + tmp12, t2 = tmp11 - tmp12;
		// Odd part.
		float z13 = in5 + in3, z10 = in5 - in3;
		float z11 = in1 + in7, z12 = in1 - in7;
		float t7 = z11 + z13;
		tmp11 = (z11 - z13) * 1.414213562f;
		float z5 = (z10 + z12) * 1.847759065f;
		tmp10 = 1.082392200f * z12 - z5;
		tmp12 = -2.613125930f * z10 + z5;
		float t6 = tmp12 - t7;
		float t5 = tmp11 - t6;
		float t4 = tmp10 + t5;
		w[c] = t0 + t7;
		w[8 + c] = t1 + t6;
		w[16 + c] = t2 + t5;
		w[24 + c] = t3 - t4;
		w[32 + c] = t3 + t4;
		w[40 + c] = t2 - t5;
		w[48 + c] = t1 - t6;
		w[56 + c] = t0 - t7;
	}
}

void fg_fdct_blocks(const uint8_t *pix, int stride, const uint8_t *want, int bw, int bx0, int bx1, int bh,
                    const float *div, int16_t *coefs) {
	for (int by = 0; by < bh; by++) {
		for (int bx = bx0; bx < bx1; bx++) {
			if (!want[by * bw + bx]) continue;
			const uint8_t *src = pix + (long)by * 8 * stride + bx * 8;
			float w[64];
			for (int r = 0; r < 8; r++) {
				for (int c = 0; c < 8; c++) w[r * 8 + c] = (float)src[r * stride + c] - 128.0f;
			}
			fdct_cols(w); // vertical frequencies
			transpose(w);
			fdct_cols(w); // horizontal ones: w[v*8+u]
			transpose(w); // natural order, w[u*8+v]
			int16_t *out = coefs + ((long)by * bw + bx) * 64;
			for (int k = 0; k < 64; k++) {
				float f = w[k] * div[k];
				out[k] = (int16_t)(f < 0 ? f - 0.5f : f + 0.5f);
			}
		}
	}
}

void fg_idct_blocks(const int16_t *coefs, const uint8_t *want, int bw, int bx0, int bx1, int bh,
                    const float *mul, uint8_t *pix, int stride) {
	for (int by = 0; by < bh; by++) {
		for (int bx = bx0; bx < bx1; bx++) {
			if (!want[by * bw + bx]) continue;
			const int16_t *in = coefs + ((long)by * bw + bx) * 64;
			float w[64];
			for (int k = 0; k < 64; k++) w[k] = (float)in[k] * mul[k];
			idct_cols(w); // w[y*8+v]
			transpose(w);
			idct_cols(w); // w[x*8+y]
			transpose(w);
			uint8_t *dst = pix + (long)by * 8 * stride + bx * 8;
			for (int r = 0; r < 8; r++) {
				for (int c = 0; c < 8; c++) {
					float v = w[r * 8 + c] + 128.0f;
					dst[r * stride + c] = v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)(v + 0.5f);
				}
			}
		}
	}
}

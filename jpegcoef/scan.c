//go:build cgo && libjpeg

// A caption sits near the bottom of the picture, and a baseline JPEG's
// scan codes the picture top to bottom, so everything above the caption's
// first MCU row can be copied to the output byte for byte: only the rows
// from there on are entropy-decoded to coefficients, edited and encoded
// again, with the source's own Huffman tables. Finding where that row
// starts in the scan still takes a Huffman decode of everything above it,
// but one that stores nothing (fg_scan_load): no coefficient arrays, and
// no re-encode of the untouched rows.
//
// Written by hand because libjpeg-turbo has no entry point for it: its
// decoder and encoder work on whole scans, and its Huffman helpers are not
// part of its public API. Only the simplest scans take this path: one
// sequential, Huffman-coded, 8-bit scan of every component, ending in
// EOI. Anything else, or anything this code finds odd (a bad code, a
// block running past 63 coefficients, a misplaced restart marker, stray
// bytes, data ending early), makes it give up, and the caller decodes the
// whole picture with libjpeg, which then judges the file as before.

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "scan.h"

enum { LOOK = 9, FAST = 11, MAX_ROWS = 1 << 16, MAX_BLOCKS = 10 };

// zigzag[k] is the natural-order index of the k'th coefficient in scan
// order.
static const uint8_t zigzag[64] = {
	0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
	12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
};

// htab is one Huffman table, for decoding and for encoding.
typedef struct {
	uint16_t look[1 << LOOK]; // (length << 8) | symbol for codes of up to LOOK bits; 0: longer
	int32_t maxcode[17];      // the largest code of each length, -1 if none
	int32_t valoff[17];       // symbol index = code + valoff[length]
	uint8_t val[256];
	uint16_t code[256]; // each symbol's code; size 0: no code
	uint8_t size[256];
	// For skipping AC coefficients: what a FAST-bit window starting with
	// one or two codes and their extra bits amounts to. The low 5 bits
	// are the bits they take, bits 8-14 how far the coefficient index
	// moves (an end of block moves it by 1), bit 15 marks the end of the
	// block; 0: not in FAST bits (or ZRL).
	uint16_t skip[1 << FAST];
	// For decoding AC coefficients: the same windows holding one code
	// and its extra bits, with the coefficient's value. Bits 0-15 are the
	// value, 16-19 the run of zeros before it, 20-24 the bits taken, bit
	// 25 marks the end of the block; 0: not in FAST bits (or ZRL).
	uint32_t val1[1 << FAST];
} htab;

// htab_build derives the tables from a DHT's counts and symbols, with the
// checks libjpeg's jpeg_make_d_derived_tbl makes, and refuses symbols an
// 8-bit baseline scan cannot hold.
static int htab_build(htab *t, const JHUFF_TBL *h, int dc) {
	memset(t, 0, sizeof *t);
	int p = 0;
	uint32_t code = 0;
	for (int l = 1; l <= 16; l++) {
		int cnt = h->bits[l];
		if (p + cnt > 256) return -1;
		t->valoff[l] = p - (int32_t)code;
		t->maxcode[l] = cnt ? (int32_t)(code + cnt - 1) : -1;
		for (int i = 0; i < cnt; i++, p++, code++) {
			int sym = h->huffval[p];
			if (dc ? sym > 11 : (sym & 15) > 10) return -1;
			t->val[p] = sym;
			if (!t->size[sym]) {
				t->code[sym] = code;
				t->size[sym] = l;
			}
			if (l <= LOOK) {
				for (uint32_t k = code << (LOOK - l); k < (code + 1) << (LOOK - l); k++) {
					t->look[k] = (uint16_t)(l << 8 | sym);
				}
			}
			int run = sym >> 4, size = sym & 15;
			if (!dc && l + size <= FAST && (size || run != 15)) {
				uint16_t e = size ? (uint16_t)((run + 1) << 8 | (l + size)) : (uint16_t)(0x8000 | 1 << 8 | l);
				for (uint32_t k = code << (FAST - l); k < (code + 1) << (FAST - l); k++) {
					t->skip[k] = e;
					uint32_t v = 0;
					if (size) {
						int extra = (int)(k >> (FAST - l - size)) & ((1 << size) - 1);
						v = (uint16_t)(int16_t)(extra < (1 << (size - 1)) ? extra - (1 << size) + 1 : extra);
					}
					t->val1[k] = v | (uint32_t)run << 16 | (uint32_t)(l + size) << 20 | (size ? 0 : 1u << 25);
				}
			}
		}
		if (code >= (1u << l)) return -1; // as libjpeg: no code of all ones
		code <<= 1;
	}
	if (!dc) {
		// Two symbols in one window where they fit: the second is looked
		// up in the bits after the first.
		uint16_t one[1 << FAST];
		memcpy(one, t->skip, sizeof one);
		for (uint32_t w = 0; w < 1u << FAST; w++) {
			unsigned e1 = one[w], t1 = e1 & 31;
			if (!e1 || (e1 & 0x8000) || t1 >= FAST) continue;
			unsigned e2 = one[(w << t1) & ((1u << FAST) - 1)], t2 = e2 & 31;
			if (!e2 || t1 + t2 > FAST) continue;
			t->skip[w] = (uint16_t)((e2 & 0x8000) | ((e1 >> 8) + ((e2 >> 8) & 0x7F)) << 8 | (t1 + t2));
		}
	}
	return 0;
}

// br reads the entropy-coded bits of one restart interval: byte stuffing
// undone, and zeros once a marker (or the data's end) is reached, as
// libjpeg does; zbits counts those zeros, which valid data never uses.
typedef struct {
	const uint8_t *d;
	size_t n, pos; // pos: the next byte to load
	uint64_t acc;  // the low `bits` bits are unread (outside the loops: see ab)
	int bits, zbits, marker;
} br;

// ab is the reader's bit buffer, kept apart from br so that the decoding
// loops hold it in registers: the low `bits` bits of acc are unread.
typedef struct {
	uint64_t acc;
	int bits;
} ab;

// fill_slow loads bytes one at a time, undoing stuffing, stopping at a
// marker.
static __attribute__((noinline)) ab fill_slow(br *r, ab x) {
	while (x.bits <= 56) {
		unsigned b = 0;
		if (!r->marker && r->pos < r->n) {
			b = r->d[r->pos];
			if (b != 0xFF) {
				r->pos++;
			} else if (r->pos + 1 < r->n && r->d[r->pos + 1] == 0) {
				r->pos += 2;
			} else {
				r->marker = 1; // pos stays on the marker
				b = 0;
				r->zbits += 8;
			}
		} else {
			r->marker = 1;
			r->zbits += 8;
		}
		x.acc = x.acc << 8 | b;
		x.bits += 8;
	}
	return x;
}

// fill tops up the buffer to at least 32 bits: whole bytes at once while
// none of the next eight is 0xFF.
static inline ab fill(br *r, ab x) {
	if (!r->marker && r->pos + 8 <= r->n) {
		uint64_t v;
		memcpy(&v, r->d + r->pos, 8);
		uint64_t y = ~v;
		if (((y - 0x0101010101010101ull) & ~y & 0x8080808080808080ull) == 0) {
			int take = (63 - x.bits) / 8;
			v = __builtin_bswap64(v);
			x.acc = x.acc << (8 * take) | v >> (64 - 8 * take);
			x.bits += 8 * take;
			r->pos += take;
			return x;
		}
	}
	return fill_slow(r, x);
}

static inline int getbits(ab *x, int s) {
	x->bits -= s;
	return (int)(x->acc >> x->bits) & ((1 << s) - 1);
}

static inline int extend(int v, int s) {
	return v < (1 << (s - 1)) ? v - (1 << s) + 1 : v;
}

// decsym decodes one symbol; the caller has made sure 16 bits are there.
static inline int decsym(ab *x, const htab *t) {
	unsigned e = t->look[(x->acc >> (x->bits - LOOK)) & ((1 << LOOK) - 1)];
	if (e >> 8) {
		x->bits -= e >> 8;
		return e & 0xFF;
	}
	for (int l = LOOK + 1; l <= 16; l++) {
		int32_t code = (int32_t)(x->acc >> (x->bits - l)) & ((1 << l) - 1);
		if (code <= t->maxcode[l]) {
			x->bits -= l;
			return t->val[code + t->valoff[l]];
		}
	}
	return -1;
}

// decode_block decodes one block, into out (natural order, zeroed by the
// caller) unless out is NULL. It follows libjpeg's decode_mcu: a run/size
// symbol of size 0 other than ZRL ends the block.
static inline int decode_block(br *r, ab *x, const htab *dc, const htab *ac, int *pred, JCOEF *out) {
	if (x->bits < 32) *x = fill(r, *x);
	int s = decsym(x, dc);
	if (s < 0) return -1;
	if (s) *pred += extend(getbits(x, s), s);
	if (*pred < -2047 || *pred > 2047) return -1;
	if (out) out[0] = (JCOEF)*pred;
	for (int k = 1; k < 64;) {
		if (x->bits < 32) *x = fill(r, *x);
		if (!out) {
			// One or two symbols at once. An end of block counts as one
			// step, so a window reaching past the block's last
			// coefficient (k 64) goes the slow way, which knows where
			// the block ends.
			unsigned e = ac->skip[(x->acc >> (x->bits - FAST)) & ((1 << FAST) - 1)];
			int nk = k + ((e >> 8) & 0x7F);
			if (e && nk <= 64) {
				x->bits -= e & 31;
				if (e & 0x8000) break;
				k = nk;
				continue;
			}
		}
		if (out) {
			uint32_t e = ac->val1[(x->acc >> (x->bits - FAST)) & ((1 << FAST) - 1)];
			if (e) {
				x->bits -= (e >> 20) & 31;
				if (e & 1u << 25) break;
				k += (e >> 16) & 15;
				if (k > 63) return -1;
				out[zigzag[k]] = (JCOEF)(int16_t)(e & 0xFFFF);
				k++;
				continue;
			}
		}
		int rs = decsym(x, ac);
		if (rs < 0) return -1;
		int run = rs >> 4;
		s = rs & 15;
		if (s) {
			k += run;
			if (k > 63) return -1;
			int v = getbits(x, s);
			if (out) out[zigzag[k]] = (JCOEF)extend(v, s);
			k++;
		} else if (run == 15) {
			k += 16;
		} else {
			break;
		}
	}
	return 0;
}

// A checkpoint is where an MCU row starts in the scan: the byte holding
// its first bit, how many of that byte's bits belong to the row above, and
// the DC predictions there (before any restart at that MCU).
typedef struct {
	size_t off;
	int bitoff;
	int pred[4];
} checkpoint;

struct fg_scan {
	const uint8_t *data;
	size_t n;
	int ncomp;       // components in the scan
	int comp[4];     // their indexes in comp_info
	int h[4], v[4];  // each one's blocks per MCU
	int bw[4], bh[4]; // each one's block grid, whole MCUs
	int mpr, rows;   // MCUs per row, MCU rows
	int mh;          // pixel rows per MCU row
	int nb, bcomp[MAX_BLOCKS], bx[MAX_BLOCKS], by[MAX_BLOCKS]; // an MCU's blocks
	int ri;          // restart interval, MCUs
	htab dc[4], ac[4];
	checkpoint *cp;  // per MCU row
	int indexed;     // cp holds rows [0, indexed]
	int tail;        // the first MCU row decoded, -1: none
	JCOEF *coef[4];  // per component: block rows from tail*v on
};

void fg_scan_free(fg_scan *s) {
	if (!s) return;
	for (int c = 0; c < 4; c++) free(s->coef[c]);
	free(s->cp);
	free(s);
}

// unread returns the unconsumed real bits of r, negative if it consumed
// zeros past a marker.
static inline int unread(const br *r) { return r->bits - r->zbits; }

// locate turns the reader's state into the byte holding the next bit and
// how many of its bits are read: it steps back over the whole bytes still
// buffered (a stuffed 0xFF 0x00 is one byte).
static void locate(const br *r, size_t *off, int *bitoff) {
	int u = unread(r);
	size_t p = r->pos;
	for (int k = (u + 7) / 8; k > 0; k--) {
		p--;
		if (r->d[p] == 0 && r->d[p - 1] == 0xFF) p--;
	}
	*off = p;
	*bitoff = (8 - u % 8) % 8;
}

// restart reads the RSTn marker expected before MCU m: whatever is left of
// the byte is padding, and nothing but fill bytes may stand before it.
static int restart(br *r, int m, int ri, int *pred) {
	if (unread(r) < 0 || unread(r) >= 8) return -1;
	size_t p = r->pos;
	while (p + 1 < r->n && r->d[p] == 0xFF && r->d[p + 1] == 0xFF) p++;
	if (p + 1 >= r->n || r->d[p] != 0xFF || r->d[p + 1] != 0xD0 + ((m / ri - 1) & 7)) return -1;
	r->pos = p + 2;
	r->acc = 0;
	r->bits = r->zbits = r->marker = 0;
	memset(pred, 0, 4 * sizeof *pred);
	return 0;
}

// finish checks that the scan ends where it should: padding, then EOI.
static int finish(br *r) {
	if (unread(r) < 0 || unread(r) >= 8) return -1;
	size_t p = r->pos;
	while (p + 1 < r->n && r->d[p] == 0xFF && r->d[p + 1] == 0xFF) p++;
	return p + 1 < r->n && r->d[p] == 0xFF && r->d[p + 1] == 0xD9 ? 0 : -1;
}

// block returns block (bx, by) of scan component i in the tail.
static inline JCOEF *block(fg_scan *s, int i, int bx, int by) {
	return s->coef[i] + ((size_t)(by - s->tail * s->v[i]) * s->bw[i] + bx) * DCTSIZE2;
}

// decode reads MCUs [m0, m1) from r. With store set, into the tail's
// coefficients; without, only recording a checkpoint at each MCU row
// (m1's too). Reading to the last MCU, it checks the scan's end.
static int decode(fg_scan *s, br *r, int m0, int m1, int *pred, int store) {
	int total = s->mpr * s->rows;
	for (int m = m0; m <= m1 && m <= total; m++) {
		int mx = m % s->mpr, my = m / s->mpr;
		if (!store && mx == 0 && my < s->rows) {
			checkpoint *c = &s->cp[my];
			if (unread(r) < 0) return -1;
			locate(r, &c->off, &c->bitoff);
			memcpy(c->pred, pred, sizeof c->pred);
		}
		if (m == m1 || m == total) break;
		if (s->ri && m && m % s->ri == 0 && restart(r, m, s->ri, pred)) return -1;
		// Well past a marker or the data's end: nothing more to learn
		// (a short file claiming many pixels stops here, not at the end).
		if (r->zbits > 64) return -1;
		ab x = {r->acc, r->bits};
		for (int b = 0; b < s->nb; b++) {
			int i = s->bcomp[b];
			JCOEF *out = store ? block(s, i, mx * s->h[i] + s->bx[b], my * s->v[i] + s->by[b]) : NULL;
			if (decode_block(r, &x, &s->dc[i], &s->ac[i], &pred[i], out)) return -1;
		}
		r->acc = x.acc;
		r->bits = x.bits;
	}
	return m1 >= total ? finish(r) : 0;
}

// reader returns a reader at checkpoint c, and its predictions.
static br reader(fg_scan *s, const checkpoint *c, int *pred) {
	br r = {.d = s->data, .n = s->n, .pos = c->off};
	ab x = fill(&r, (ab){0, 0});
	r.acc = x.acc;
	r.bits = x.bits - c->bitoff;
	memcpy(pred, c->pred, 4 * sizeof *pred);
	return r;
}

// fg_scan_index checks that d's scan (its entropy-coded data starting at
// data[start]) can take this path, NULL if it cannot. Nothing is decoded
// yet: fg_scan_load finds where the rows start down to the one it needs,
// then decodes from there to the end (and checks the end).
fg_scan *fg_scan_index(j_decompress_ptr d, const unsigned char *data, size_t n, size_t start) {
	if (d->progressive_mode || d->arith_code || d->data_precision != 8 || d->comps_in_scan != d->num_components ||
	    d->comps_in_scan < 1 || d->comps_in_scan > 4 || d->Ss != 0 || d->Se != 63 || d->Ah != 0 || d->Al != 0 || start > n) {
		return NULL;
	}
	fg_scan *s = calloc(1, sizeof *s);
	if (!s) return NULL;
	s->data = data;
	s->n = n;
	s->tail = -1;
	s->ncomp = d->comps_in_scan;
	s->ri = d->restart_interval;
	if (s->ncomp == 1) {
		jpeg_component_info *c = d->cur_comp_info[0];
		s->mpr = c->width_in_blocks;
		s->rows = c->height_in_blocks;
		s->h[0] = s->v[0] = 1;
		s->nb = 1;
		s->mh = 8 * d->max_v_samp_factor / c->v_samp_factor;
	} else {
		s->mpr = (d->image_width + 8 * d->max_h_samp_factor - 1) / (8 * d->max_h_samp_factor);
		s->rows = (d->image_height + 8 * d->max_v_samp_factor - 1) / (8 * d->max_v_samp_factor);
		s->mh = 8 * d->max_v_samp_factor;
	}
	for (int i = 0; i < s->ncomp; i++) {
		jpeg_component_info *c = d->cur_comp_info[i];
		JHUFF_TBL *dc = c->dc_tbl_no >= 0 && c->dc_tbl_no < NUM_HUFF_TBLS ? d->dc_huff_tbl_ptrs[c->dc_tbl_no] : NULL;
		JHUFF_TBL *ac = c->ac_tbl_no >= 0 && c->ac_tbl_no < NUM_HUFF_TBLS ? d->ac_huff_tbl_ptrs[c->ac_tbl_no] : NULL;
		if (!dc || !ac || htab_build(&s->dc[i], dc, 1) || htab_build(&s->ac[i], ac, 0)) goto fail;
		s->comp[i] = c->component_index;
		if (s->ncomp > 1) {
			s->h[i] = c->h_samp_factor;
			s->v[i] = c->v_samp_factor;
			for (int y = 0; y < s->v[i]; y++) {
				for (int x = 0; x < s->h[i]; x++) {
					if (s->nb == MAX_BLOCKS) goto fail;
					s->bcomp[s->nb] = i;
					s->bx[s->nb] = x;
					s->by[s->nb] = y;
					s->nb++;
				}
			}
		}
		s->bw[i] = s->mpr * s->h[i];
		s->bh[i] = s->rows * s->v[i];
	}
	if (s->mpr < 1 || s->rows < 1 || s->rows > MAX_ROWS) goto fail;
	s->cp = calloc(s->rows, sizeof *s->cp);
	if (!s->cp) goto fail;
	s->cp[0].off = start;
	return s;
fail:
	fg_scan_free(s);
	return NULL;
}

// fg_scan_first_row returns the first block row of comp_info component ci
// held in the tail, -1 if none is.
int fg_scan_first_row(fg_scan *s, int ci) {
	for (int i = 0; i < s->ncomp; i++) {
		if (s->comp[i] == ci) return s->tail < 0 ? -1 : s->tail * s->v[i];
	}
	return -1;
}

// fg_scan_load decodes the MCU rows from the one holding pixel row y0 to
// the end into coefficients (again if it holds fewer); -1 if the scan is
// not as this code expects (the caller then asks libjpeg).
int fg_scan_load(fg_scan *s, int y0) {
	if (s->mh < 1 || y0 < 0) return -1;
	int row = y0 / s->mh;
	if (row >= s->rows) row = s->rows - 1;
	if (s->tail >= 0 && s->tail <= row) return 0;
	if (row > s->indexed) {
		// Where the rows down to this one start: a pass that stores
		// nothing, from the last row found.
		int pred[4];
		br r = reader(s, &s->cp[s->indexed], pred);
		if (decode(s, &r, s->indexed * s->mpr, row * s->mpr, pred, 0)) return -1;
		s->indexed = row;
	}
	for (int i = 0; i < s->ncomp; i++) {
		free(s->coef[i]);
		s->coef[i] = calloc((size_t)(s->rows - row) * s->v[i] * s->bw[i], DCTSIZE2 * sizeof(JCOEF));
		if (!s->coef[i]) {
			s->tail = -1;
			return -1;
		}
	}
	s->tail = row;
	int pred[4];
	br r = reader(s, &s->cp[row], pred);
	if (decode(s, &r, row * s->mpr, s->mpr * s->rows, pred, 1)) {
		s->tail = -1;
		return -1;
	}
	return 0;
}

// fg_scan_blocks copies (write = 0) or stores (write = 1) the blocks [bx0,
// bx1) of block rows [by0, by1) of comp_info component ci, 64
// coefficients each in natural order, row after row; -1 if they are not
// all in the tail.
int fg_scan_blocks(fg_scan *s, int ci, int bx0, int by0, int bx1, int by1, JCOEF *buf, int write) {
	int i = 0;
	while (i < s->ncomp && s->comp[i] != ci) i++;
	if (i == s->ncomp || s->tail < 0 || bx0 < 0 || bx1 > s->bw[i] || by0 < s->tail * s->v[i] || by1 > s->bh[i] || bx0 >= bx1 || by0 >= by1) {
		return -1;
	}
	size_t n = (size_t)(bx1 - bx0) * DCTSIZE2 * sizeof(JCOEF);
	for (int by = by0; by < by1; by++) {
		if (write) memcpy(block(s, i, bx0, by), buf, n); else memcpy(buf, block(s, i, bx0, by), n);
		buf += (size_t)(bx1 - bx0) * DCTSIZE2;
	}
	return 0;
}

// bw is the output buffer (the bits go through ws).
typedef struct {
	uint8_t *buf;
	size_t n, cap;
} bw;

static int reserve(bw *w, size_t more) {
	if (w->n + more <= w->cap) return 0;
	size_t cap = w->cap * 2 > w->n + more ? w->cap * 2 : w->n + more;
	uint8_t *b = realloc(w->buf, cap);
	if (!b) return -1;
	w->buf = b;
	w->cap = cap;
	return 0;
}

// ws is the writer's bit buffer and position, kept apart from bw so that
// the encoding loop holds them in registers (a byte store through bw's
// buffer could otherwise alias them). The low `bits` bits of acc are not
// written yet.
typedef struct {
	uint64_t acc;
	int bits;
	uint8_t *p;
} ws;

// emit writes the accumulator's whole bytes.
static inline void emit(ws *x) {
	while (x->bits >= 8) {
		x->bits -= 8;
		uint8_t b = (uint8_t)(x->acc >> x->bits);
		*x->p++ = b;
		if (b == 0xFF) *x->p++ = 0;
	}
}

// put appends size bits (at most 27) of code; stuffed, a 0x00 after each
// 0xFF, or raw for a part coded apart (see encode_part).
static inline __attribute__((always_inline)) void put_(ws *x, uint32_t code, int size, int stuff) {
	x->acc = x->acc << size | (code & ((1u << size) - 1));
	x->bits += size;
	if (x->bits < 32) return;
	uint32_t v = (uint32_t)(x->acc >> (x->bits - 32));
	uint32_t y = ~v;
	if (!stuff || ((y - 0x01010101u) & ~y & 0x80808080u) == 0) { // no 0xFF
		x->bits -= 32;
		v = __builtin_bswap32(v);
		memcpy(x->p, &v, 4);
		x->p += 4;
		return;
	}
	emit(x);
}

static inline void put(ws *x, uint32_t code, int size) { put_(x, code, size, 1); }

// pad writes what is left, the last byte filled with ones as libjpeg
// does.
static void pad(ws *x) {
	emit(x);
	if (x->bits) {
		int n = 8 - x->bits;
		x->acc = x->acc << n | ((1u << n) - 1);
		x->bits = 8;
		emit(x);
	}
}

static inline int nbits(int v) {
	if (v < 0) v = -v;
	return v ? 32 - __builtin_clz((unsigned)v) : 0;
}

// encode_block writes one block; 1 if the tables have no code for a
// symbol it needs.
static inline __attribute__((always_inline)) int encode_block(ws *x, const htab *dc, const htab *ac, int *pred, const JCOEF *b, int stuff) {
	int diff = b[0] - *pred;
	*pred = b[0];
	int s = nbits(diff);
	if (s > 11 || !dc->size[s]) return 1;
	put_(x, (uint32_t)dc->code[s] << s | ((diff < 0 ? diff - 1 : diff) & ((1 << s) - 1)), dc->size[s] + s, stuff);
	// The nonzero coefficients, in scan order, as bits.
	uint64_t nz = 0;
	for (int k = 1; k < 64; k++) nz |= (uint64_t)(b[zigzag[k]] != 0) << k;
	int last = 0;
	while (nz) {
		int k = __builtin_ctzll(nz);
		nz &= nz - 1;
		int run = k - last - 1, v = b[zigzag[k]];
		last = k;
		for (; run > 15; run -= 16) {
			if (!ac->size[0xF0]) return 1;
			put_(x, ac->code[0xF0], ac->size[0xF0], stuff);
		}
		s = nbits(v);
		int sym = run << 4 | s;
		if (s > 10 || !ac->size[sym]) return 1;
		put_(x, (uint32_t)ac->code[sym] << s | ((v < 0 ? v - 1 : v) & ((1 << s) - 1)), ac->size[sym] + s, stuff);
	}
	if (last < 63) {
		if (!ac->size[0]) return 1;
		put_(x, ac->code[0], ac->size[0], stuff);
	}
	return 0;
}

// A part of the tail coded on another thread, unstuffed: entropy coding
// is sequential, but the DC predictions entering any MCU are known from
// the coefficients, so the tail's second half can be coded alongside the
// first and its bits appended (and stuffed) after them.
typedef struct {
	fg_scan *s;
	int m0, m1;
	int pred[4];
	uint8_t *buf;
	ws x;
	int rc;
} part;

static void *encode_part(void *arg) {
	part *p = arg;
	fg_scan *s = p->s;
	// Unstuffed, a block takes at most 64 × 26 bits.
	p->buf = malloc((size_t)(p->m1 - p->m0) * s->nb * 208 + 16);
	if (!p->buf) {
		p->rc = -1;
		return NULL;
	}
	p->x = (ws){.p = p->buf};
	for (int m = p->m0; m < p->m1; m++) {
		int mx = m % s->mpr, my = m / s->mpr;
		for (int b = 0; b < s->nb; b++) {
			int i = s->bcomp[b];
			p->rc = encode_block(&p->x, &s->dc[i], &s->ac[i], &p->pred[i], block(s, i, mx * s->h[i] + s->bx[b], my * s->v[i] + s->by[b]), 0);
			if (p->rc) return NULL;
		}
	}
	return NULL;
}

// append writes a part's bits after x's, stuffed.
static void append(ws *x, const part *p) {
	const uint8_t *b = p->buf;
	size_t n = p->x.p - p->buf;
	for (size_t i = 0; i + 2 <= n; i += 2) put(x, (uint32_t)b[i] << 8 | b[i + 1], 16);
	if (n % 2) put(x, b[n - 1], 8);
	if (p->x.bits) put(x, (uint32_t)p->x.acc, p->x.bits);
}

// split is where the tail's second half starts, 0 when it is coded in
// one piece: restart markers (byte-aligned, unstuffed) would need the
// parts joined at them, and a small tail is not worth a thread.
static int split(fg_scan *s) {
	int m0 = s->tail * s->mpr, total = s->mpr * s->rows;
	if (s->ri || (total - m0) * s->nb < 6000) return 0;
	return m0 + (total - m0) / 2;
}

// fg_scan_encode writes the JPEG: the source up to the tail's first bit
// as it is, then the tail's MCUs encoded with the source's tables, then
// EOI. It returns 1 if the tables cannot code the tail (the caller then
// encodes the whole picture), -1 on failure.
int fg_scan_encode(fg_scan *s, unsigned char **out, size_t *outsize) {
	*out = NULL;
	*outsize = 0;
	if (s->tail < 0) return -1;
	checkpoint *c = &s->cp[s->tail];
	bw w = {0};
	if (reserve(&w, c->off + (s->n - c->off) + (s->n - c->off) / 4 + 4096)) return -1;
	memcpy(w.buf, s->data, c->off);
	ws x = {.p = w.buf + c->off};
	if (c->bitoff) put(&x, s->data[c->off] >> (8 - c->bitoff), c->bitoff);
	int pred[4];
	memcpy(pred, c->pred, sizeof pred);
	int total = s->mpr * s->rows;
	part p = {.s = s, .m0 = split(s), .m1 = total};
	pthread_t th;
	int threaded = 0;
	if (p.m0) {
		// The predictions entering MCU m0: each component's last block
		// in the MCU before it.
		int mx = (p.m0 - 1) % s->mpr, my = (p.m0 - 1) / s->mpr;
		for (int i = 0; i < s->ncomp; i++) p.pred[i] = block(s, i, mx * s->h[i] + s->h[i] - 1, my * s->v[i] + s->v[i] - 1)[0];
		threaded = pthread_create(&th, NULL, encode_part, &p) == 0;
		if (!threaded) encode_part(&p);
		total = p.m0;
	}
	int rc = 0;
	for (int m = s->tail * s->mpr; m < total; m++) {
		// A block: at most 64 × 26 bits, each byte maybe stuffed.
		w.n = x.p - w.buf;
		if (reserve(&w, MAX_BLOCKS * 448 + 16)) goto fail;
		x.p = w.buf + w.n;
		if (s->ri && m && m % s->ri == 0) {
			pad(&x);
			*x.p++ = 0xFF;
			*x.p++ = 0xD0 + ((m / s->ri - 1) & 7);
			memset(pred, 0, sizeof pred);
		}
		int mx = m % s->mpr, my = m / s->mpr;
		for (int b = 0; b < s->nb; b++) {
			int i = s->bcomp[b];
			if ((rc = encode_block(&x, &s->dc[i], &s->ac[i], &pred[i], block(s, i, mx * s->h[i] + s->bx[b], my * s->v[i] + s->by[b]), 1))) goto done;
		}
	}
done:
	if (threaded) pthread_join(th, NULL);
	if (!rc && p.m0) rc = p.rc;
	if (rc) {
		free(p.buf);
		free(w.buf);
		return rc;
	}
	w.n = x.p - w.buf;
	// The second part, stuffed: at most twice its bytes.
	if (reserve(&w, 2 * (size_t)(p.buf ? p.x.p - p.buf : 0) + 64)) {
		free(p.buf);
		goto fail;
	}
	x.p = w.buf + w.n;
	if (p.buf) {
		append(&x, &p);
		free(p.buf);
	}
	pad(&x);
	*x.p++ = 0xFF;
	*x.p++ = 0xD9;
	*out = w.buf;
	*outsize = x.p - w.buf;
	return 0;
fail:
	free(w.buf);
	return -1;
}

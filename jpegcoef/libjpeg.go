//go:build cgo && libjpeg

package jpegcoef

/*
#cgo LDFLAGS: -ljpeg
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <malloc.h>
#include <jpeglib.h>
#include "scan.h"

// libjpeg allocates a picture's coefficients in large blocks, which glibc
// maps fresh (and the kernel zeroes page by page) on every request and
// unmaps on free: a third of a 1080p edit went to page faults. Kept in the
// heap instead, the next picture reuses the pages: blocks up to 32 MiB
// (glibc's ceiling), and up to 32 MiB kept free (a 4K picture's
// coefficients). One arena: cgo calls run on many threads, and an arena
// per thread would each keep their own.
static void fg_init(void) {
	mallopt(M_ARENA_MAX, 1);
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, 32 << 20);
}

// libjpeg reports a fatal error by calling error_exit, which must not
// return: it jumps back to the setjmp in the C function that called into
// libjpeg (never across Go frames). Warnings (a corrupt or truncated
// stream) are counted and refused afterwards, as jpegtran -strict does.
typedef struct {
	struct jpeg_error_mgr pub;
	jmp_buf jb;
} fg_err;

static void fg_error_exit(j_common_ptr c) {
	fg_err *e = (fg_err *)c->err;
	longjmp(e->jb, 1);
}

static void fg_emit(j_common_ptr c, int level) {
	if (level < 0) c->err->num_warnings++;
}

// A progressive stream may hold any number of scans, each one a pass over
// the whole picture: more than fg_max_scans is refused (as djpeg
// -maxscans does), so a small file cannot cost unbounded CPU.
enum { fg_max_scans = 64 };

static void fg_progress(j_common_ptr c) {
	j_decompress_ptr d = (j_decompress_ptr)c;
	if (d->input_scan_number > fg_max_scans) {
		c->err->error_exit(c);
	}
}

typedef struct {
	struct jpeg_decompress_struct d;
	struct jpeg_progress_mgr progress;
	fg_err de;
	int dinit;
	jvirt_barray_ptr *coefs;
	fg_scan *scan; // set instead of coefs: only the bottom rows are decoded (scan.c)
} fg_job;

static fg_job *fg_open(unsigned char *data, unsigned long n, unsigned long long max_pixels, int index) {
	fg_job *j = calloc(1, sizeof(fg_job));
	if (!j) return NULL;
	j->d.err = jpeg_std_error(&j->de.pub);
	j->de.pub.error_exit = fg_error_exit;
	j->de.pub.emit_message = fg_emit;
	if (setjmp(j->de.jb)) {
		return j; // coefs stays NULL: the caller reads that as corrupt
	}
	jpeg_create_decompress(&j->d);
	j->dinit = 1;
	jpeg_mem_src(&j->d, data, n);
	jpeg_save_markers(&j->d, JPEG_COM, 0xFFFF);
	for (int m = 0; m < 16; m++) jpeg_save_markers(&j->d, JPEG_APP0 + m, 0xFFFF);
	j->progress.progress_monitor = fg_progress;
	j->d.progress = &j->progress;
	jpeg_read_header(&j->d, TRUE);
	if ((unsigned long long)j->d.image_width * j->d.image_height > max_pixels) return j;
	if (j->de.pub.num_warnings > 0) return j; // in the headers
	if (index) {
		j->scan = fg_scan_index(&j->d, data, n, (size_t)(j->d.src->next_input_byte - data));
		if (j->scan) return j;
	}
	jvirt_barray_ptr *c = jpeg_read_coefficients(&j->d);
	if (j->de.pub.num_warnings > 0) return j;
	j->coefs = c;
	return j;
}

// fg_whole gives up the index and has libjpeg decode the whole scan.
static int fg_whole(fg_job *j) {
	fg_scan_free(j->scan);
	j->scan = NULL;
	if (setjmp(j->de.jb)) return -1;
	jvirt_barray_ptr *c = jpeg_read_coefficients(&j->d);
	if (j->de.pub.num_warnings > 0) return -1;
	j->coefs = c;
	return 0;
}

static void fg_close(fg_job *j) {
	fg_scan_free(j->scan);
	if (j->dinit) jpeg_destroy_decompress(&j->d);
	free(j);
}

static int fg_ncomp(fg_job *j) { return j->d.num_components; }
static jpeg_component_info *fg_comp(fg_job *j, int ci) { return &j->d.comp_info[ci]; }

// fg_quant is component ci's quantization table: libjpeg latches it when
// a scan starts, which an indexed job never does.
static JQUANT_TBL *fg_quant(fg_job *j, int ci) {
	jpeg_component_info *c = &j->d.comp_info[ci];
	if (c->quant_table) return c->quant_table;
	if (c->quant_tbl_no < 0 || c->quant_tbl_no >= NUM_QUANT_TBLS) return NULL;
	return j->d.quant_tbl_ptrs[c->quant_tbl_no];
}

// fg_blocks copies (write = 0) or stores (write = 1) the blocks [bx0, bx1)
// of block rows [by0, by1) of component ci, 64 coefficients each in
// natural order, row after row.
static int fg_blocks(fg_job *j, int ci, int bx0, int by0, int bx1, int by1, JCOEF *buf, int write) {
	if (setjmp(j->de.jb)) return -1;
	for (int by = by0; by < by1; by++) {
		JBLOCKARRAY row = (*j->d.mem->access_virt_barray)((j_common_ptr)&j->d, j->coefs[ci], by, 1, write ? TRUE : FALSE);
		size_t n = (size_t)(bx1 - bx0) * DCTSIZE2 * sizeof(JCOEF);
		if (write) memcpy(row[0][bx0], buf, n); else memcpy(buf, row[0][bx0], n);
		buf += (size_t)(bx1 - bx0) * DCTSIZE2;
	}
	return 0;
}

// fg_encode writes the coefficients as a JPEG with the source's
// parameters (quantization, sampling, restart interval, progressive or
// baseline, arithmetic or Huffman) and its APPn and COM markers.
static int fg_encode(fg_job *j, unsigned long guess, unsigned char **out, unsigned long *outsize) {
	struct jpeg_compress_struct c;
	fg_err ce;
	volatile int cinit = 0;
	// A buffer of about the output's size up front: jpeg_mem_dest would
	// start at 4 KiB and grow by copying.
	*out = malloc(guess);
	*outsize = *out ? guess : 0;
	c.err = jpeg_std_error(&ce.pub);
	ce.pub.error_exit = fg_error_exit;
	ce.pub.emit_message = fg_emit;
	// Reading the source's coefficients may fail on the source's error
	// manager, writing on the destination's: both land here.
	if (setjmp(j->de.jb)) goto fail;
	if (setjmp(ce.jb)) goto fail;
	jpeg_create_compress(&c);
	cinit = 1;
	jpeg_mem_dest(&c, out, outsize);
	jpeg_copy_critical_parameters(&j->d, &c);
	c.restart_interval = j->d.restart_interval;
	c.arith_code = j->d.arith_code;
	if (j->d.progressive_mode) jpeg_simple_progression(&c);
	jpeg_write_coefficients(&c, j->coefs);
	for (jpeg_saved_marker_ptr m = j->d.marker_list; m; m = m->next) {
		if (c.write_JFIF_header && m->marker == JPEG_APP0 && m->data_length >= 5 && memcmp(m->data, "JFIF", 5) == 0) continue;
		if (c.write_Adobe_marker && m->marker == JPEG_APP0 + 14 && m->data_length >= 5 && memcmp(m->data, "Adobe", 5) == 0) continue;
		jpeg_write_marker(&c, m->marker, m->data, m->data_length);
	}
	jpeg_finish_compress(&c);
	jpeg_destroy_compress(&c);
	return 0;
fail:
	if (cinit) jpeg_destroy_compress(&c);
	free(*out);
	*out = NULL;
	return -1;
}
*/
import "C"

import (
	"fmt"
	"runtime"
	"slices"
	"unsafe"
)

func init() { C.fg_init() }

// Available reports whether this build edits coefficients.
const Available = true

// Image is a JPEG held as coefficients by libjpeg. It is not safe for
// concurrent use; Close frees it.
//
// A baseline JPEG (one sequential Huffman-coded scan) is only indexed when
// opened: Rows then decodes the MCU rows from a given pixel row down, and
// Encode copies everything above them from the source as it is (scan.c).
// Any other JPEG is decoded whole by libjpeg.
type Image struct {
	job       *C.fg_job
	pin       runtime.Pinner // the source's bytes, read by libjpeg
	info      Info
	data      []byte
	maxPixels int64
	reencoded bool // the last Encode of an indexed image went through libjpeg
}

// Open reads data's headers; a baseline JPEG's scan is left for Rows to
// decode (so a fault in it is reported by Rows), any other JPEG's scans
// are entropy-decoded whole into coefficients. data must stay unchanged
// until Close. A picture of more than maxPixels pixels is refused
// (ErrTooLarge) before its coefficients are allocated, and so is a
// progressive one of more than 64 scans (ErrCorrupt).
func Open(data []byte, maxPixels int64) (*Image, error) { return open(data, maxPixels, true) }

// OpenWhole is Open without the index: libjpeg decodes every scan, as for
// any JPEG Open cannot index. Tests compare the two.
func OpenWhole(data []byte, maxPixels int64) (*Image, error) { return open(data, maxPixels, false) }

func open(data []byte, maxPixels int64, index bool) (*Image, error) {
	if len(data) == 0 {
		return nil, ErrCorrupt
	}
	// libjpeg's source manager points into data until Close: pinned, not
	// copied (the caller must not change data meanwhile).
	m := &Image{data: data, maxPixels: maxPixels}
	m.pin.Pin(&data[0])
	ix := C.int(0)
	if index {
		ix = 1
	}
	m.job = C.fg_open((*C.uchar)(unsafe.Pointer(&data[0])), C.ulong(len(data)), C.ulonglong(max(maxPixels, 0)), ix)
	job := m.job
	if job == nil {
		m.pin.Unpin()
		return nil, fmt.Errorf("jpegcoef: out of memory")
	}
	if job.coefs == nil && job.scan == nil {
		tooLarge := job.dinit != 0 && int64(job.d.image_width)*int64(job.d.image_height) > maxPixels
		m.Close()
		if tooLarge {
			return nil, ErrTooLarge
		}
		return nil, ErrCorrupt
	}
	d := &job.d
	m.info = Info{Width: int(d.image_width), Height: int(d.image_height), MaxH: int(d.max_h_samp_factor), MaxV: int(d.max_v_samp_factor),
		Progressive: d.progressive_mode != 0,
		YCbCr:       d.jpeg_color_space == C.JCS_YCbCr || d.jpeg_color_space == C.JCS_GRAYSCALE && d.num_components == 1}
	for ci := 0; ci < int(C.fg_ncomp(job)); ci++ {
		c := C.fg_comp(job, C.int(ci))
		comp := Component{H: int(c.h_samp_factor), V: int(c.v_samp_factor), BlocksW: int(c.width_in_blocks), BlocksH: int(c.height_in_blocks)}
		q := C.fg_quant(job, C.int(ci))
		if q == nil {
			m.Close()
			return nil, ErrCorrupt
		}
		for k := range 64 {
			comp.Quant[k] = uint16(q.quantval[k])
		}
		m.info.Components = append(m.info.Components, comp)
	}
	return m, nil
}

// Rows tells the image that only blocks at or below pixel row y will be
// read or written. An indexed image finds where the MCU rows down to the
// one holding y start (a Huffman pass that stores nothing), then decodes
// from there to the bottom (and blocks above it cannot be read); if its
// scan is not as the index expects, libjpeg decodes it whole instead. An
// image decoded whole ignores it. ErrCorrupt: libjpeg refused the scan.
func (m *Image) Rows(y int) error {
	if m.job.scan == nil {
		if m.job.coefs == nil {
			return ErrCorrupt // an earlier Rows found the scan corrupt
		}
		return nil
	}
	if C.fg_scan_load(m.job.scan, C.int(y)) != 0 && C.fg_whole(m.job) != 0 {
		return ErrCorrupt
	}
	return nil
}

// indexed reports whether only part of the picture is decoded.
func (m *Image) indexed() bool { return m.job.scan != nil }

// Info describes the image.
func (m *Image) Info() Info { return m.info }

// ReadBlocks copies the blocks [bx0, bx1) × [by0, by1) of component ci
// into dst, 64 coefficients per block in natural (row-major) order, row
// after row. The range must lie inside the component's block grid.
func (m *Image) ReadBlocks(ci, bx0, by0, bx1, by1 int, dst []int16) {
	m.blocks(ci, bx0, by0, bx1, by1, dst, 0)
}

// WriteBlock replaces one block of component ci.
func (m *Image) WriteBlock(ci, bx, by int, b *[64]int16) {
	m.blocks(ci, bx, by, bx+1, by+1, b[:], 1)
}

// WriteBlocks replaces the blocks [bx0, bx1) × [by0, by1) of component ci
// with src, laid out as ReadBlocks lays them out: one call where many
// WriteBlock calls would each cross into C.
func (m *Image) WriteBlocks(ci, bx0, by0, bx1, by1 int, src []int16) {
	m.blocks(ci, bx0, by0, bx1, by1, src, 1)
}

func (m *Image) blocks(ci, bx0, by0, bx1, by1 int, buf []int16, write C.int) {
	c := m.info.Components[ci]
	if bx0 < 0 || by0 < 0 || bx1 > c.BlocksW || by1 > c.BlocksH || bx0 >= bx1 || by0 >= by1 || len(buf) < (bx1-bx0)*(by1-by0)*64 {
		panic(fmt.Sprintf("jpegcoef: blocks [%d,%d)×[%d,%d) outside component %d's %d×%d", bx0, bx1, by0, by1, ci, c.BlocksW, c.BlocksH))
	}
	p := (*C.JCOEF)(unsafe.Pointer(&buf[0]))
	if m.job.scan != nil {
		if C.fg_scan_blocks(m.job.scan, C.int(ci), C.int(bx0), C.int(by0), C.int(bx1), C.int(by1), p, write) != 0 {
			panic(fmt.Sprintf("jpegcoef: blocks [%d,%d)×[%d,%d) of component %d not decoded (Rows)", bx0, bx1, by0, by1, ci))
		}
		return
	}
	if m.job.coefs == nil {
		panic("jpegcoef: blocks of an image whose scan was refused")
	}
	if C.fg_blocks(m.job, C.int(ci), C.int(bx0), C.int(by0), C.int(bx1), C.int(by1), p, write) != 0 {
		panic("jpegcoef: libjpeg refused a block access inside the grid")
	}
}

// Encode writes the image, changed blocks and all, as a JPEG with the
// source's parameters and markers (EXIF included). An indexed image is
// written as the source's bytes down to the decoded rows, then those rows
// coded with the source's Huffman tables; if the tables have no code for
// a changed block's symbol, the whole picture is decoded and encoded
// again by libjpeg instead.
func (m *Image) Encode() ([]byte, error) {
	if m.job.scan == nil && m.job.coefs == nil {
		return nil, ErrCorrupt // Rows found the scan corrupt
	}
	if m.job.scan != nil && C.fg_scan_first_row(m.job.scan, 0) < 0 {
		// Nothing decoded, so nothing changed: the last row is coded
		// again.
		if err := m.Rows(m.info.Height - 1); err != nil {
			return nil, err
		}
	}
	if m.job.scan != nil {
		var out *C.uchar
		var n C.size_t
		switch C.fg_scan_encode(m.job.scan, &out, &n) {
		case 0:
			defer C.free(unsafe.Pointer(out))
			return C.GoBytes(unsafe.Pointer(out), C.int(n)), nil
		case 1:
			return m.encodeWhole()
		}
		return nil, fmt.Errorf("jpegcoef: could not encode")
	}
	var out *C.uchar
	var n C.ulong
	size := len(m.data)
	if C.fg_encode(m.job, C.ulong(size+size/8+64<<10), &out, &n) != 0 {
		return nil, fmt.Errorf("jpegcoef: libjpeg could not encode")
	}
	defer C.free(unsafe.Pointer(out))
	return C.GoBytes(unsafe.Pointer(out), C.int(n)), nil
}

// encodeWhole encodes an indexed image through libjpeg: the source
// decoded whole, the decoded rows (changed or not) copied over it.
func (m *Image) encodeWhole() ([]byte, error) {
	m.reencoded = true
	whole, err := open(m.data, m.maxPixels, false)
	if err != nil {
		return nil, err
	}
	defer whole.Close()
	var row []int16
	for ci, c := range m.info.Components {
		first := int(C.fg_scan_first_row(m.job.scan, C.int(ci)))
		if first < 0 {
			continue
		}
		row = slices.Grow(row[:0], c.BlocksW*64)[:c.BlocksW*64]
		for by := first; by < c.BlocksH; by++ {
			m.blocks(ci, 0, by, c.BlocksW, by+1, row, 0)
			whole.blocks(ci, 0, by, c.BlocksW, by+1, row, 1)
		}
	}
	return whole.Encode()
}

// Close frees the image.
func (m *Image) Close() {
	if m.job != nil {
		C.fg_close(m.job)
		m.job = nil
		m.pin.Unpin()
	}
}

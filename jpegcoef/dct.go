//go:build cgo && libjpeg

package jpegcoef

// #include "dct.h"
import "C"

import (
	"fmt"
	"unsafe"
)

// DCT transforms blocks of one component with its quantization table: the
// AAN scaled forward and inverse DCTs in single precision (dct.c).
type DCT struct {
	mul, div [64]float32
}

// NewDCT prepares the transforms for the quantization table q (natural
// order).
func NewDCT(q *[64]uint16) *DCT {
	d := &DCT{}
	C.fg_dct_tables((*C.uint16_t)(unsafe.Pointer(&q[0])), (*C.float)(&d.mul[0]), (*C.float)(&d.div[0]))
	return d
}

// Inverse dequantizes and transforms the blocks of rows [0, bh) and
// columns [bx0, bx1) whose want is set; coefs and want hold bw blocks a
// row, pix their samples (8 rows of stride bytes a block row).
func (d *DCT) Inverse(coefs []int16, want []bool, bw, bx0, bx1, bh int, pix []byte, stride int) {
	if !blocksFit(len(coefs), len(want), bw, bx0, bx1, bh, len(pix), stride) {
		panic(fmt.Sprintf("jpegcoef: DCT.Inverse: %d×%d blocks, columns [%d, %d), do not fit", bw, bh, bx0, bx1))
	}
	if bx0 >= bx1 || bh == 0 {
		return
	}
	C.fg_idct_blocks((*C.int16_t)(&coefs[0]), (*C.uint8_t)(unsafe.Pointer(&want[0])), C.int(bw), C.int(bx0), C.int(bx1), C.int(bh),
		(*C.float)(&d.mul[0]), (*C.uint8_t)(&pix[0]), C.int(stride))
}

// Forward transforms and quantizes the wanted blocks of pix into coefs
// (the layout of Inverse).
func (d *DCT) Forward(pix []byte, stride int, want []bool, bw, bx0, bx1, bh int, coefs []int16) {
	if !blocksFit(len(coefs), len(want), bw, bx0, bx1, bh, len(pix), stride) {
		panic(fmt.Sprintf("jpegcoef: DCT.Forward: %d×%d blocks, columns [%d, %d), do not fit", bw, bh, bx0, bx1))
	}
	if bx0 >= bx1 || bh == 0 {
		return
	}
	C.fg_fdct_blocks((*C.uint8_t)(&pix[0]), C.int(stride), (*C.uint8_t)(unsafe.Pointer(&want[0])), C.int(bw), C.int(bx0), C.int(bx1), C.int(bh),
		(*C.float)(&d.div[0]), (*C.int16_t)(&coefs[0]))
}

// blocksFit reports whether bh rows of bw blocks, columns [bx0, bx1), fit
// in buffers of the given lengths: the C transforms trust their bounds.
func blocksFit(ncoefs, nwant, bw, bx0, bx1, bh, npix, stride int) bool {
	if bw < 0 || bh < 0 || bx0 < 0 || bx1 > bw || stride < 0 {
		return false
	}
	if bx0 >= bx1 || bh == 0 {
		return true
	}
	return ncoefs >= bw*bh*64 && nwant >= bw*bh && stride >= bx1*8 && npix >= (bh*8-1)*stride+bx1*8
}

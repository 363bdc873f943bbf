// Package jpegcoef edits a JPEG's quantized DCT coefficients in place and
// writes it back, with libjpeg-turbo (the library jpegtran is built on):
// entropy-decode to coefficients, change some blocks, entropy-encode. The
// blocks left alone keep their exact coefficients, so they decode to the
// exact same pixels; nothing is transformed or quantized again but what
// the caller writes.
//
// A baseline JPEG (one sequential Huffman-coded scan) is not decoded
// whole: the caller says from which pixel row down it will edit (Rows),
// only those rows are decoded, and the output is the source's bytes down
// to them, then those rows coded again with the source's own tables
// (scan.c).
//
// It needs cgo and libjpeg-turbo's headers (Debian: libjpeg62-turbo-dev),
// so it is built only with the libjpeg build tag; without it Open returns
// ErrUnavailable and callers decode pixels instead.
package jpegcoef

import "errors"

// ErrUnavailable: filegate was built without the libjpeg tag (or cgo).
var ErrUnavailable = errors.New("jpegcoef: built without libjpeg (go build -tags libjpeg, cgo and libjpeg-turbo headers)")

// ErrCorrupt: libjpeg refused the data or warned about it (a truncated or
// corrupt stream); the caller should treat the image as corrupt.
var ErrCorrupt = errors.New("jpegcoef: corrupt JPEG")

// ErrTooLarge: the picture has more pixels than the caller allows.
var ErrTooLarge = errors.New("jpegcoef: picture larger than allowed")

// Component describes one color component's block grid.
type Component struct {
	H, V             int // sampling factors
	BlocksW, BlocksH int // blocks covering the component's samples
	Quant            [64]uint16
}

// Info describes an opened JPEG.
type Info struct {
	Width, Height int
	Components    []Component // 1 (grayscale) or 3 (YCbCr)
	MaxH, MaxV    int         // the largest sampling factors (MCU size is 8·MaxH × 8·MaxV)
	Progressive   bool
	YCbCr         bool // color space YCbCr (or grayscale with one component)
}

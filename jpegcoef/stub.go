//go:build !(cgo && libjpeg)

package jpegcoef

// Image is unavailable in this build.
type Image struct{}

// Available reports whether this build edits coefficients.
const Available = false

// Open always fails with ErrUnavailable in this build.
func Open([]byte, int64) (*Image, error) { return nil, ErrUnavailable }

// OpenWhole always fails with ErrUnavailable in this build.
func OpenWhole([]byte, int64) (*Image, error) { return nil, ErrUnavailable }

// Info is never called on a nil Image in this build.
func (*Image) Info() Info { return Info{} }

// ReadBlocks is unavailable in this build.
func (*Image) ReadBlocks(ci, bx0, by0, bx1, by1 int, dst []int16) {}

// WriteBlock is unavailable in this build.
func (*Image) WriteBlock(ci, bx, by int, b *[64]int16) {}

// WriteBlocks is unavailable in this build.
func (*Image) WriteBlocks(ci, bx0, by0, bx1, by1 int, src []int16) {}

// Encode is unavailable in this build.
func (*Image) Encode() ([]byte, error) { return nil, ErrUnavailable }

// Close does nothing in this build.
func (*Image) Close() {}

// Rows is unavailable in this build.
func (*Image) Rows(int) error { return ErrUnavailable }

// DCT is unavailable in this build.
type DCT struct{}

// NewDCT is unavailable in this build.
func NewDCT(*[64]uint16) *DCT { return &DCT{} }

// Inverse is unavailable in this build.
func (*DCT) Inverse(coefs []int16, want []bool, bw, bx0, bx1, bh int, pix []byte, stride int) {
	panic("jpegcoef: built without libjpeg")
}

// Forward is unavailable in this build.
func (*DCT) Forward(pix []byte, stride int, want []bool, bw, bx0, bx1, bh int, coefs []int16) {
	panic("jpegcoef: built without libjpeg")
}

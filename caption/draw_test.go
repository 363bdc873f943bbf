package caption

import (
	"bytes"
	"image"
	"testing"

	"golang.org/x/image/font"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

// TestDrawStringMatchesDrawer: drawString writes the bytes font.Drawer
// writes (through image/draw's Over) onto an alpha mask, overlapping
// glyphs, clipped edges and partly inked masks included.
func TestDrawStringMatchesDrawer(t *testing.T) {
	f, err := boldFont()
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []float64{7, 23.5, 61, 180} {
		face, err := opentype.NewFace(f, &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingNone})
		if err != nil {
			t.Fatal(err)
		}
		for _, at := range []fixed.Point26_6{{X: 3 << 6, Y: fixed.Int26_6(size * 64)}, {X: -37, Y: fixed.Int26_6(size * 40)}, {X: 900 << 6, Y: 20 << 6}} {
			want := image.NewAlpha(image.Rect(5, -3, 700, int(size*1.6)))
			got := image.NewAlpha(want.Rect)
			for i := range want.Pix {
				want.Pix[i] = byte(i * 7 % 251) // ink already there
			}
			copy(got.Pix, want.Pix)
			text := "AVAWAY Tj ff ÉÀ g̃ 0123 ONE DOES NOT SIMPLY"
			d := &font.Drawer{Dst: want, Src: image.Opaque, Face: face, Dot: at}
			d.DrawString(text)
			drawString(got, face, at, text)
			if !bytes.Equal(got.Pix, want.Pix) {
				t.Errorf("size %v at %v: drawString differs from font.Drawer", size, at)
			}
		}
		face.Close()
	}
}

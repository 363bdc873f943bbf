package caption

import (
	"image"
	"image/color"
	"image/draw"
	"math"

	"github.com/filegate/filegate/jpegcoef"
)

// Captions on a JPEG, in the coefficient domain: the file is entropy-
// decoded to quantized DCT coefficients (jpegcoef, libjpeg-turbo), only
// the blocks under the text's ink are inverse-transformed, painted,
// transformed and quantized again with the source's tables, and the
// coefficients are entropy-encoded back. Every other block keeps its
// coefficients bit for bit, so outside the ink's blocks the output decodes
// to exactly the input's pixels, and the photo is never decoded whole. The
// DCTs below are the textbook 8×8 DCT-II and its inverse (the JPEG
// standard's, A.3.3): a handful of blocks per caption need no fast one.

// dctBasis[u][x] = a(u)·cos((2x+1)uπ/16), orthonormal.
var dctBasis = func() (c [8][8]float64) {
	for u := range 8 {
		a := math.Sqrt(2.0 / 8)
		if u == 0 {
			a = math.Sqrt(1.0 / 8)
		}
		for x := range 8 {
			c[u][x] = a * math.Cos(float64(2*x+1)*float64(u)*math.Pi/16)
		}
	}
	return c
}()

// idct turns one block of quantized coefficients (natural order) into 8×8
// samples, written to dst with the given stride.
func idct(coef []int16, q *[64]uint16, dst []uint8, stride int) {
	var f, t [64]float64
	for k := range 64 {
		f[k] = float64(coef[k]) * float64(q[k])
	}
	// t = Cᵀ·F (rows: y), then s = t·C.
	for y := range 8 {
		for v := range 8 {
			var s float64
			for u := range 8 {
				s += dctBasis[u][y] * f[u*8+v]
			}
			t[y*8+v] = s
		}
	}
	for y := range 8 {
		for x := range 8 {
			var s float64
			for v := range 8 {
				s += t[y*8+v] * dctBasis[v][x]
			}
			dst[y*stride+x] = clamp8(s + 128)
		}
	}
}

// fdct turns 8×8 samples into coefficients quantized by q (natural order).
func fdct(src []uint8, stride int, q *[64]uint16, coef *[64]int16) {
	var t [64]float64
	for u := range 8 {
		for x := range 8 {
			var s float64
			for y := range 8 {
				s += dctBasis[u][y] * (float64(src[y*stride+x]) - 128)
			}
			t[u*8+x] = s
		}
	}
	for u := range 8 {
		for v := range 8 {
			var s float64
			for x := range 8 {
				s += t[u*8+x] * dctBasis[v][x]
			}
			coef[u*8+v] = int16(math.Round(s / float64(q[u*8+v])))
		}
	}
}

func clamp8(v float64) uint8 {
	switch {
	case v <= 0:
		return 0
	case v >= 255:
		return 255
	}
	return uint8(v + 0.5)
}

// plane is one component's samples over a range of its blocks.
type plane struct {
	comp     jpegcoef.Component
	bx0, by0 int // first block
	bw, bh   int // blocks
	sx, sy   int // pixels per sample
	pix      []uint8
	stride   int
	touched  []bool // per block
}

// subsampling maps a YCbCr JPEG's sampling to Go's ratio, for the layouts
// image.YCbCr can hold: luma at the largest factors, both chroma at 1×1.
func subsampling(info jpegcoef.Info) (image.YCbCrSubsampleRatio, bool) {
	c := info.Components
	if len(c) != 3 || c[0].H != info.MaxH || c[0].V != info.MaxV || c[1].H != 1 || c[1].V != 1 || c[2].H != 1 || c[2].V != 1 {
		return 0, false
	}
	switch [2]int{info.MaxH, info.MaxV} {
	case [2]int{1, 1}:
		return image.YCbCrSubsampleRatio444, true
	case [2]int{2, 1}:
		return image.YCbCrSubsampleRatio422, true
	case [2]int{2, 2}:
		return image.YCbCrSubsampleRatio420, true
	case [2]int{1, 2}:
		return image.YCbCrSubsampleRatio440, true
	case [2]int{4, 1}:
		return image.YCbCrSubsampleRatio411, true
	case [2]int{4, 2}:
		return image.YCbCrSubsampleRatio410, true
	}
	return 0, false
}

// coefSupported reports whether paintCoefficients handles this JPEG:
// YCbCr with a layout image.YCbCr holds, or one-component grayscale.
func coefSupported(info jpegcoef.Info) bool {
	if !info.YCbCr {
		return false
	}
	if len(info.Components) == 1 {
		return true
	}
	_, ok := subsampling(info)
	return ok
}

// paintCoefficients paints the stamps (laid out on the upright picture,
// EXIF orientation o) onto the JPEG held by m, changing only the blocks
// the ink touches. It reports whether any block changed.
func paintCoefficients(m *jpegcoef.Image, o int, stamps []stamp, st Style) bool {
	info := m.Info()
	W, H := info.Width, info.Height
	var ink image.Rectangle
	for _, sp := range stamps {
		ink = ink.Union(sp.inked())
	}
	if ink.Empty() {
		return false
	}
	// The ink's rectangle in stored coordinates, grown to whole MCUs.
	r := unorientRect(ink, o, W, H)
	mw, mh := 8*info.MaxH, 8*info.MaxV
	r = image.Rect(r.Min.X/mw*mw, r.Min.Y/mh*mh, (r.Max.X+mw-1)/mw*mw, (r.Max.Y+mh-1)/mh*mh)
	px := r.Intersect(image.Rect(0, 0, W, H))

	planes := make([]*plane, len(info.Components))
	for ci, c := range info.Components {
		sx, sy := info.MaxH/c.H, info.MaxV/c.V
		p := &plane{comp: c, sx: sx, sy: sy,
			bx0: r.Min.X / (8 * sx), by0: r.Min.Y / (8 * sy)}
		p.bw = min((r.Max.X+8*sx-1)/(8*sx), c.BlocksW) - p.bx0
		p.bh = min((r.Max.Y+8*sy-1)/(8*sy), c.BlocksH) - p.by0
		p.stride = p.bw * 8
		p.pix = make([]uint8, p.stride*p.bh*8)
		p.touched = make([]bool, p.bw*p.bh)
		coefs := make([]int16, p.bw*p.bh*64)
		m.ReadBlocks(ci, p.bx0, p.by0, p.bx0+p.bw, p.by0+p.bh, coefs)
		for by := range p.bh {
			for bx := range p.bw {
				idct(coefs[(by*p.bw+bx)*64:][:64], &c.Quant, p.pix[by*8*p.stride+bx*8:], p.stride)
			}
		}
		planes[ci] = p
	}

	// The pixels under the ink, as they decode now, in RGBA.
	before := image.NewRGBA(px)
	if len(planes) == 1 {
		g := &image.Gray{Pix: planes[0].pix, Stride: planes[0].stride, Rect: px}
		draw.Draw(before, px, g, px.Min, draw.Src)
	} else {
		ratio, _ := subsampling(info)
		y := &image.YCbCr{Y: planes[0].pix, Cb: planes[1].pix, Cr: planes[2].pix,
			YStride: planes[0].stride, CStride: planes[1].stride, SubsampleRatio: ratio, Rect: px}
		draw.Draw(before, px, y, px.Min, draw.Src)
	}
	// Painted upright, then turned back to the stored orientation.
	var after *image.RGBA
	if o > 1 && o <= 8 {
		up := orientRGBA(before, o, orientRect(px, o, W, H))
		for _, sp := range stamps {
			sp.paint(up, st) // an *image.RGBA: writeBack cannot fail
		}
		after = orientRGBA(up, inverseOrientation(o), px)
	} else {
		after = image.NewRGBA(px)
		copy(after.Pix, before.Pix)
		for _, sp := range stamps {
			sp.paint(after, st)
		}
	}

	// New samples where pixels changed; blocks with a changed sample are
	// transformed and quantized again, every other block is left alone.
	changed := false
	for y := px.Min.Y; y < px.Max.Y; y++ {
		for x := px.Min.X; x < px.Max.X; x++ {
			i := before.PixOffset(x, y)
			a, b := after.Pix[i:i+3:i+3], before.Pix[i:i+3:i+3]
			if a[0] == b[0] && a[1] == b[1] && a[2] == b[2] {
				continue
			}
			changed = true
			yy, _, _ := color.RGBToYCbCr(a[0], a[1], a[2])
			planes[0].set(x-r.Min.X, y-r.Min.Y, yy)
			if len(planes) == 3 {
				planes[1].mark(x-r.Min.X, y-r.Min.Y)
				planes[2].mark(x-r.Min.X, y-r.Min.Y)
			}
		}
	}
	if len(planes) == 3 {
		// A chroma sample covers sx×sy pixels: the mean of its pixels'
		// new chroma, where a pixel that did not change keeps the sample.
		p1, p2 := planes[1], planes[2]
		for by := range p1.bh {
			for bx := range p1.bw {
				if !p1.touched[by*p1.bw+bx] {
					continue
				}
				for sy := by * 8; sy < by*8+8; sy++ {
					for sx := bx * 8; sx < bx*8+8; sx++ {
						var cb, cr, n int
						any := false
						for y := sy * p1.sy; y < (sy+1)*p1.sy; y++ {
							for x := sx * p1.sx; x < (sx+1)*p1.sx; x++ {
								X, Y := x+r.Min.X, y+r.Min.Y
								if !(image.Point{X, Y}).In(px) {
									continue
								}
								i := before.PixOffset(X, Y)
								a, b := after.Pix[i:i+3:i+3], before.Pix[i:i+3:i+3]
								if a[0] == b[0] && a[1] == b[1] && a[2] == b[2] {
									cb += int(p1.pix[sy*p1.stride+sx])
									cr += int(p2.pix[sy*p2.stride+sx])
								} else {
									_, b2, r2 := color.RGBToYCbCr(a[0], a[1], a[2])
									cb, cr, any = cb+int(b2), cr+int(r2), true
								}
								n++
							}
						}
						if any && n > 0 {
							p1.pix[sy*p1.stride+sx] = uint8((cb + n/2) / n)
							p2.pix[sy*p2.stride+sx] = uint8((cr + n/2) / n)
						}
					}
				}
			}
		}
	}
	if !changed {
		return false
	}
	var blk [64]int16
	for ci, p := range planes {
		for by := range p.bh {
			for bx := range p.bw {
				if !p.touched[by*p.bw+bx] {
					continue
				}
				fdct(p.pix[by*8*p.stride+bx*8:], p.stride, &p.comp.Quant, &blk)
				m.WriteBlock(ci, p.bx0+bx, p.by0+by, &blk)
			}
		}
	}
	return true
}

// set stores a full-resolution sample at pixel (x, y) of the plane's
// range and marks its block.
func (p *plane) set(x, y int, v uint8) {
	p.pix[y*p.stride+x] = v
	p.mark(x, y)
}

// mark records that the sample under pixel (x, y) changes.
func (p *plane) mark(x, y int) {
	bx, by := x/(8*p.sx), y/(8*p.sy)
	if bx < p.bw && by < p.bh {
		p.touched[by*p.bw+bx] = true
	}
}

// orientPoint maps a stored pixel to its upright place under EXIF
// orientation o, for a stored image W×H (as orient does).
func orientPoint(x, y, o, W, H int) (int, int) {
	switch o {
	case 2:
		return W - 1 - x, y
	case 3:
		return W - 1 - x, H - 1 - y
	case 4:
		return x, H - 1 - y
	case 5:
		return y, x
	case 6:
		return H - 1 - y, x
	case 7:
		return H - 1 - y, W - 1 - x
	case 8:
		return y, W - 1 - x
	}
	return x, y
}

// orientRect maps a stored rectangle to the upright picture.
func orientRect(r image.Rectangle, o, W, H int) image.Rectangle {
	x0, y0 := orientPoint(r.Min.X, r.Min.Y, o, W, H)
	x1, y1 := orientPoint(r.Max.X-1, r.Max.Y-1, o, W, H)
	return image.Rect(min(x0, x1), min(y0, y1), max(x0, x1)+1, max(y0, y1)+1)
}

// inverseOrientation undoes o: 6 and 8 undo each other, the others
// undo themselves.
func inverseOrientation(o int) int {
	switch o {
	case 6:
		return 8
	case 8:
		return 6
	}
	return o
}

// unorientRect maps an upright rectangle back to stored coordinates.
func unorientRect(r image.Rectangle, o, W, H int) image.Rectangle {
	if o < 2 || o > 8 {
		return r
	}
	uw, uh := W, H
	if o >= 5 {
		uw, uh = H, W
	}
	return orientRect(r, inverseOrientation(o), uw, uh)
}

// orientRGBA turns src (a part of a picture) by orientation o, placing
// the result at dst (src's rectangle, turned).
func orientRGBA(src *image.RGBA, o int, dst image.Rectangle) *image.RGBA {
	out := orient(src, o).(*image.RGBA)
	out.Rect = dst
	return out
}

package caption

import (
	"encoding/binary"
	"image"
	"image/color"
	"math/bits"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/filegate/filegate/jpegcoef"
)

// Captions on a JPEG, in the coefficient domain: the file is entropy-
// decoded to quantized DCT coefficients (jpegcoef, libjpeg-turbo), only
// the blocks under the text's ink are inverse-transformed, painted,
// transformed and quantized again with the source's tables, and the
// coefficients are entropy-encoded back. Every other block keeps its
// coefficients bit for bit, so outside the ink's blocks the output decodes
// to exactly the input's pixels, and the photo is never decoded whole. The
// DCTs are jpegcoef's: the AAN (Arai, Agui, Nakajima) factorizations
// libjpeg uses for its floating-point DCTs, vectorized in C.

// plane is one component's samples over a range of its blocks.
type plane struct {
	comp     jpegcoef.Component
	dct      *jpegcoef.DCT
	want     []bool // per block: decode it (its MCU has ink)
	bx0, by0 int    // first block
	bw, bh   int    // blocks
	sx, sy   int    // pixels per sample
	pix      []uint8
	stride   int
	touched  []bool  // per block
	shx, shy int     // log2 of a block's size in pixels
	coefs    []int16 // the blocks' coefficients, 64 a block
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

// coefSupported reports whether paintPlanned handles this JPEG:
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

// planEdit finds the MCUs the stamps' ink reaches; nil when there is no
// ink. It needs only the JPEG's headers, so it runs while the scan is
// being decoded.
func planEdit(info jpegcoef.Info, o int, stamps []stamp, st Style) *coefEdit {
	W, H := info.Width, info.Height
	var ink image.Rectangle
	for _, sp := range stamps {
		ink = ink.Union(sp.inked())
	}
	if ink.Empty() {
		return nil
	}
	e := &coefEdit{info: info, o: o, stamps: stamps}
	sr, sg, sb, sa := st.Stroke.RGBA()
	e.stroke = [4]uint32{sr, sg, sb, sa}
	fr, fg, fb, fa := st.Fill.RGBA()
	e.fill = [4]uint32{fr, fg, fb, fa}
	// The ink's rectangle in stored coordinates, grown to whole MCUs.
	r := unorientRect(ink, o, W, H)
	e.mw, e.mh = 8*info.MaxH, 8*info.MaxV
	mw, mh := e.mw, e.mh
	r = image.Rect(r.Min.X/mw*mw, r.Min.Y/mh*mh, (r.Max.X+mw-1)/mw*mw, (r.Max.Y+mh-1)/mh*mh)
	e.r, e.px = r, r.Intersect(image.Rect(0, 0, W, H))

	// The MCUs holding ink: only their blocks are decoded.
	e.mcuW, e.mcuH = r.Dx()/mw, r.Dy()/mh
	e.need = make([]bool, e.mcuW*e.mcuH)
	uw, uh := W, H
	if o >= 5 && o <= 8 {
		uw, uh = H, W
	}
	for _, sp := range stamps {
		b := sp.ring.Rect
		for y := b.Min.Y; y < b.Max.Y; y++ {
			row := sp.ring.Pix[(y-b.Min.Y)*sp.ring.Stride:][:b.Dx()]
			for i := inked(row, 0); i < len(row); i = inked(row, i+1) {
				x, y := b.Min.X+i, y
				if o > 1 && o <= 8 {
					x, y = orientPoint(x, y, inverseOrientation(o), uw, uh)
				}
				if mx, my := (x-r.Min.X)/mw, (y-r.Min.Y)/mh; mx >= 0 && my >= 0 && mx < e.mcuW && my < e.mcuH {
					e.need[my*e.mcuW+mx] = true
					if o <= 1 || o > 8 {
						i = (r.Min.X + (mx+1)*mw - b.Min.X) - 1 // the rest of this MCU adds nothing
					}
				}
			}
		}
	}
	e.workers = 1
	if o <= 1 || o > 8 {
		e.workers = min(runtime.NumCPU(), 4, e.mcuW)
	}
	// The columns go in chunks to whichever worker is free: the ink is
	// rarely spread evenly.
	e.chunks = 1
	if e.workers > 1 {
		e.chunks = min(4*e.workers, e.mcuW)
	}
	return e
}

// prepaint paints, before the JPEG's rows are decoded, the pixels whose
// new color does not depend on the old: those fully under an opaque
// stroke (most of a caption's ink). It runs on the CPU the scan's decoding
// leaves idle, and leaves the others (the text's anti-aliased edges) to
// columns. It does so only where no pixel is painted twice: an upright
// picture, and stamps that do not overlap.
func (e *coefEdit) prepaint() {
	if e == nil || e.o > 1 && e.o <= 8 {
		return
	}
	stroke := e.stroke
	if stroke[3] != 0xffff {
		return
	}
	for i, a := range e.stamps {
		for _, b := range e.stamps[i+1:] {
			if a.ring.Rect.Overlaps(b.ring.Rect) {
				return
			}
		}
	}
	chunkOf := make([]int, e.mcuW)
	for c := range e.chunks {
		for mx := c * e.mcuW / e.chunks; mx < (c+1)*e.mcuW/e.chunks; mx++ {
			chunkOf[mx] = c
		}
	}
	// Counted first, so that the lists are one buffer of the right size,
	// kept between captions: a 4K caption prepaints half a million pixels,
	// and lists grown by append cost more than the painting.
	counts := make([]int, e.chunks)
	for _, sp := range e.stamps {
		b := sp.ring.Rect.Intersect(e.px)
		for y := b.Min.Y; y < b.Max.Y; y++ {
			ring := sp.ring.Pix[sp.ring.PixOffset(b.Min.X, y):][:b.Dx()]
			for i := inked(ring, 0); i < len(ring); i = inked(ring, i+1) {
				if ring[i] == 0xff {
					counts[chunkOf[(b.Min.X+i-e.r.Min.X)/e.mw]]++
				}
			}
		}
	}
	total := 0
	for _, n := range counts {
		total += n
	}
	e.bufs = editBuffers.Get().(*buffers).reset()
	if cap(e.bufs.pre) < total {
		e.bufs.pre = make([]uint64, total)
	}
	flat := e.bufs.pre[:total]
	pre := make([][]uint64, e.chunks)
	for c, n := range counts {
		pre[c], flat = flat[:0:n], flat[n:]
	}
	stroke8 := [4]uint8{uint8(stroke[0] >> 8), uint8(stroke[1] >> 8), uint8(stroke[2] >> 8), 0xff}
	gray := len(e.info.Components) == 1
	lastRGB := [3]uint8{0, 0, 0}
	_, lastCb, lastCr := color.RGBToYCbCr(0, 0, 0)
	for _, sp := range e.stamps {
		b := sp.ring.Rect.Intersect(e.px)
		for y := b.Min.Y; y < b.Max.Y; y++ {
			ring := sp.ring.Pix[sp.ring.PixOffset(b.Min.X, y):][:b.Dx()]
			fills := sp.fill.Pix[sp.fill.PixOffset(b.Min.X, y):][:b.Dx()]
			for i := inked(ring, 0); i < len(ring); i = inked(ring, i+1) {
				if ring[i] != 0xff {
					continue
				}
				d := stroke8 // whatever was there: over gives the stroke's color
				if af := fills[i]; af != 0 {
					over(d[:], &e.fill, af)
				}
				x := b.Min.X + i
				// Luma as color.RGBToYCbCr computes it.
				yy := uint8((19595*uint32(d[0]) + 38470*uint32(d[1]) + 7471*uint32(d[2]) + 1<<15) >> 16)
				v := uint64(y)<<48 | uint64(x)<<32 | uint64(yy)<<16
				if !gray {
					if rgb := [3]uint8{d[0], d[1], d[2]}; rgb != lastRGB {
						_, lastCb, lastCr = color.RGBToYCbCr(d[0], d[1], d[2])
						lastRGB = rgb
					}
					v |= uint64(lastCb)<<8 | uint64(lastCr)
				}
				c := chunkOf[(x-e.r.Min.X)/e.mw]
				pre[c] = append(pre[c], v)
			}
		}
	}
	e.pre = pre
}

// paintPlanned paints e's stamps (laid out on the upright picture, EXIF
// orientation e.o) onto the JPEG held by m, changing only the blocks
// the ink touches. It reports whether any block changed, and an error if
// the JPEG's rows under the ink could not be decoded. The work is split
// into MCU columns done side by side (on an upright picture; a turned one
// is done in one piece).
func paintPlanned(m *jpegcoef.Image, e *coefEdit) (bool, error) {
	if e == nil {
		return false, nil
	}
	bufs := e.bufs
	if bufs == nil {
		bufs = editBuffers.Get().(*buffers).reset()
	}
	defer editBuffers.Put(bufs)
	info, r := e.info, e.r
	// Only the MCU rows from the ink's first down are decoded (an indexed
	// baseline JPEG); everything above is copied as it is.
	if err := m.Rows(r.Min.Y); err != nil {
		return false, err
	}
	e.planes = make([]*plane, len(info.Components))
	for ci, c := range info.Components {
		sx, sy := info.MaxH/c.H, info.MaxV/c.V
		p := &plane{comp: c, dct: jpegcoef.NewDCT(&c.Quant), sx: sx, sy: sy,
			bx0: r.Min.X / (8 * sx), by0: r.Min.Y / (8 * sy)}
		p.bw = min(r.Max.X/(8*sx), c.BlocksW) - p.bx0
		p.bh = min(r.Max.Y/(8*sy), c.BlocksH) - p.by0
		p.stride = p.bw * 8
		p.pix = bufs.bytes(p.stride * p.bh * 8)
		p.touched = make([]bool, p.bw*p.bh)
		p.want = make([]bool, p.bw*p.bh)
		for by := range p.bh {
			for bx := range p.bw {
				p.want[by*p.bw+bx] = e.need[by/c.V*e.mcuW+bx/c.H]
			}
		}
		if ci == 2 {
			p.touched = e.planes[1].touched // Cb and Cr change together
		}
		p.shx, p.shy = 3+bits.TrailingZeros(uint(sx)), 3+bits.TrailingZeros(uint(sy))
		p.coefs = bufs.coefs(p.bw * p.bh * 64)
		m.ReadBlocks(ci, p.bx0, p.by0, p.bx0+p.bw, p.by0+p.bh, p.coefs)
		e.planes[ci] = p
	}
	if len(e.planes) == 3 {
		if n := 3 * len(e.planes[1].pix); cap(bufs.sums) < n {
			bufs.sums = make([]int32, n)
		}
		e.sums = bufs.sums[:3*len(e.planes[1].pix)]
	}
	if e.pre == nil {
		e.cur = &image.RGBA{Pix: bufs.bytes(4 * e.px.Dx() * e.px.Dy()), Stride: 4 * e.px.Dx(), Rect: e.px}
	}
	workers, chunks := e.workers, e.chunks
	changed := make([]bool, workers)
	for len(bufs.painted) < workers {
		bufs.painted = append(bufs.painted, nil)
	}
	e.painted = bufs.painted[:workers]
	defer func() { bufs.painted = e.painted }()
	var next atomic.Int32
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := int(next.Add(1)) - 1; c < chunks; c = int(next.Add(1)) - 1 {
				if e.columns(w, c, c*e.mcuW/chunks, (c+1)*e.mcuW/chunks) {
					changed[w] = true
				}
			}
		}()
	}
	wg.Wait()
	if !slices.Contains(changed, true) {
		return false, nil
	}
	// The planes go back whole, in one call each: a block not touched
	// holds the coefficients ReadBlocks gave, so it is written unchanged.
	for ci, p := range e.planes {
		if slices.Contains(p.touched, true) {
			m.WriteBlocks(ci, p.bx0, p.by0, p.bx0+p.bw, p.by0+p.bh, p.coefs)
		}
	}
	return true, nil
}

// editBuffers keeps the sample, coefficient and RGBA buffers between
// captions: a 1080p caption's are a few MiB, which would otherwise be
// garbage after every request and keep the collector busy.
var editBuffers = sync.Pool{New: func() any { return new(buffers) }}

type buffers struct {
	painted [][]int64
	pre     []uint64
	sums    []int32 // zero outside paintPlanned
	b       [][]byte
	c       [][]int16
	nb, nc  int
}

// bytes returns a buffer of n bytes (contents undefined).
func (f *buffers) bytes(n int) []byte { return grab(&f.b, &f.nb, n) }

// coefs returns a buffer of n coefficients (contents undefined).
func (f *buffers) coefs(n int) []int16 { return grab(&f.c, &f.nc, n) }

// grab hands out the next of the kept slices, grown to n.
func grab[T any](kept *[][]T, next *int, n int) []T {
	if *next == len(*kept) {
		*kept = append(*kept, nil)
	}
	if cap((*kept)[*next]) < n {
		(*kept)[*next] = make([]T, n)
	}
	*next++
	return (*kept)[*next-1][:n]
}

func (f *buffers) reset() *buffers {
	f.nb, f.nc = 0, 0
	return f
}

// coefEdit is one paintPlanned call's state, shared by its workers:
// each works on its own MCU columns, so on its own blocks and pixels.
type coefEdit struct {
	info         jpegcoef.Info
	o            int
	stamps       []stamp
	mw, mh       int             // MCU size in pixels
	r, px        image.Rectangle // the MCUs edited; their part inside the picture
	mcuW, mcuH   int
	need         []bool // per MCU: ink inside
	planes       []*plane
	cur          *image.RGBA // px: the painted pixels (alpha 0: not painted); paintPixels only
	painted      [][]int64   // per worker: the pixels painted, y<<32 | x; paintPixels only
	sums         []int32     // per chroma sample: Cb, Cr and count of its painted pixels; zero between uses
	stroke, fill [4]uint32   // st's colors, premultiplied
	workers      int         // goroutines painting
	chunks       int         // column ranges they take in turn: chunk c is MCU columns [c*mcuW/chunks, (c+1)*mcuW/chunks)
	bufs         *buffers    // taken by prepaint, else by paintPlanned, which gives them back
	// pre, when not nil, holds per chunk the pixels fully under the
	// stroke, painted (by prepaint) before the JPEG's rows were decoded:
	// y<<48 | x<<32 | Y<<16 | Cb<<8 | Cr, their new samples.
	pre [][]uint64
}

// columns edits MCU columns [c0, c1) of e.r: decodes the blocks of the
// MCUs with ink, paints, and transforms and quantizes again the blocks
// whose samples changed. It reports whether any did.
func (e *coefEdit) columns(w, chunk, c0, c1 int) bool {
	if c0 >= c1 {
		return false
	}
	r := e.r
	sub := image.Rect(r.Min.X+c0*e.mw, e.px.Min.Y, r.Min.X+c1*e.mw, e.px.Max.Y).Intersect(e.px)
	for _, p := range e.planes {
		p.dct.Inverse(p.coefs, p.want, p.bw, c0*p.comp.H, min(c1*p.comp.H, p.bw), p.bh, p.pix, p.stride)
	}
	var painted bool
	if e.pre != nil {
		painted = e.paintEdges(sub, e.pre[chunk])
	} else {
		painted = e.paintPixels(w, sub)
	}
	e.chroma(c0, c1)
	for _, p := range e.planes {
		p.dct.Forward(p.pix, p.stride, p.touched, p.bw, c0*p.comp.H, min(c1*p.comp.H, p.bw), p.bh, p.coefs)
	}
	return painted
}

// newSample records a painted pixel's new samples: its luma, and its
// chroma added to its chroma sample's sums.
func (e *coefEdit) newSample(x, y int, yy, cb, cr uint8) {
	lx, ly := x-e.r.Min.X, y-e.r.Min.Y
	e.planes[0].set(lx, ly, yy)
	if len(e.planes) != 3 {
		return
	}
	p1 := e.planes[1]
	if bx, by := lx>>p1.shx, ly>>p1.shy; bx < p1.bw && by < p1.bh {
		p1.touched[by*p1.bw+bx] = true // Cr's too: they share
		a := e.sums[3*((ly>>(p1.shy-3))*p1.stride+lx>>(p1.shx-3)):][:3:3]
		a[0] += int32(cb)
		a[1] += int32(cr)
		a[2]++
	}
}

// paintEdges paints sub's pixels that prepaint left (partly under the
// stroke), and records the new samples of those it painted (pre). No
// pixel is painted twice, so each is finished at once.
func (e *coefEdit) paintEdges(sub image.Rectangle, pre []uint64) bool {
	for _, v := range pre {
		e.newSample(int(v>>32&0xffff), int(v>>48), uint8(v>>16), uint8(v>>8), uint8(v))
	}
	painted := len(pre) > 0
	lastRGB := [3]uint8{0, 0, 0}
	_, lastCb, lastCr := color.RGBToYCbCr(0, 0, 0)
	for _, sp := range e.stamps {
		b := sp.ring.Rect.Intersect(sub)
		for y := b.Min.Y; y < b.Max.Y; y++ {
			ring := sp.ring.Pix[sp.ring.PixOffset(b.Min.X, y):][:b.Dx()]
			fills := sp.fill.Pix[sp.fill.PixOffset(b.Min.X, y):][:b.Dx()]
			for i := inked(ring, 0); i < len(ring); i = inked(ring, i+1) {
				ar := ring[i]
				if ar == 0xff {
					continue // prepainted
				}
				x := b.Min.X + i
				var d [4]uint8
				d[0], d[1], d[2] = e.rgb(x, y)
				over(d[:], &e.stroke, ar)
				if af := fills[i]; af != 0 {
					over(d[:], &e.fill, af)
				}
				yy := uint8((19595*uint32(d[0]) + 38470*uint32(d[1]) + 7471*uint32(d[2]) + 1<<15) >> 16)
				if rgb := [3]uint8{d[0], d[1], d[2]}; len(e.planes) == 3 && rgb != lastRGB {
					_, lastCb, lastCr = color.RGBToYCbCr(d[0], d[1], d[2])
					lastRGB = rgb
				}
				e.newSample(x, y, yy, lastCb, lastCr)
				painted = true
			}
		}
	}
	return painted
}

// paintPixels paints sub's pixels under the ink, stamp after stamp, where
// a pixel may be painted more than once (turned pictures, overlapping
// stamps, a translucent stroke): every pixel under the ink is decoded to
// RGB once, then outlined and filled as image/draw composites a mask
// (drawGlyphOver). cur holds the painted pixels; its alpha marks the ones
// painted. Their new samples are recorded once all stamps are painted.
func (e *coefEdit) paintPixels(w int, sub image.Rectangle) bool {
	cur := e.cur
	for y := sub.Min.Y; y < sub.Max.Y; y++ {
		clear(cur.Pix[cur.PixOffset(sub.Min.X, y):cur.PixOffset(sub.Max.X, y)])
	}
	uw, uh := e.info.Width, e.info.Height
	if e.o >= 5 && e.o <= 8 {
		uw, uh = uh, uw
	}
	opaque := e.stroke[3] == 0xffff
	stroke8 := [3]uint8{uint8(e.stroke[0] >> 8), uint8(e.stroke[1] >> 8), uint8(e.stroke[2] >> 8)}
	fillOpaque := e.fill[3] == 0xffff
	fill8 := [3]uint8{uint8(e.fill[0] >> 8), uint8(e.fill[1] >> 8), uint8(e.fill[2] >> 8)}
	painted := e.painted[w][:0] // the pixels painted, y<<32 | x
	defer func() { e.painted[w] = painted }()
	for _, sp := range e.stamps {
		b := sp.ring.Rect
		if e.o <= 1 || e.o > 8 {
			b = b.Intersect(sub)
		}
		for Y := b.Min.Y; Y < b.Max.Y; Y++ {
			ring := sp.ring.Pix[sp.ring.PixOffset(b.Min.X, Y):][:b.Dx()]
			fill := sp.fill.Pix[sp.fill.PixOffset(b.Min.X, Y):][:b.Dx()]
			for i := inked(ring, 0); i < len(ring); i = inked(ring, i+1) {
				ar := ring[i]
				x, y := b.Min.X+i, Y
				if e.o > 1 && e.o <= 8 {
					x, y = orientPoint(x, y, inverseOrientation(e.o), uw, uh)
					if !(image.Point{x, y}).In(sub) {
						continue
					}
				}
				off := cur.PixOffset(x, y)
				d := cur.Pix[off:][:4:4]
				if d[3] == 0 {
					d[3] = 0xff
					painted = append(painted, int64(y)<<32|int64(x))
					if ar == 0xff && opaque {
						// Fully under an opaque stroke: whatever was
						// there, over gives the stroke's color.
						d[0], d[1], d[2] = stroke8[0], stroke8[1], stroke8[2]
					} else {
						d[0], d[1], d[2] = e.rgb(x, y)
						over(d, &e.stroke, ar)
					}
				} else {
					over(d, &e.stroke, ar)
				}
				if af := fill[i]; af == 0xff && fillOpaque {
					d[0], d[1], d[2] = fill8[0], fill8[1], fill8[2] // as over gives
				} else if af != 0 {
					over(d, &e.fill, af)
				}
			}
		}
	}

	// New samples where pixels were painted; blocks with a new sample are
	// transformed and quantized again, every other block is left alone.
	// Text is mostly its two colors: the last conversion is kept.
	lastRGB := [3]uint8{0, 0, 0}
	_, lastCb, lastCr := color.RGBToYCbCr(0, 0, 0)
	for _, xy := range painted {
		x, y := int(xy&0xffffffff), int(xy>>32)
		d := cur.Pix[cur.PixOffset(x, y):][:4:4]
		// Luma as color.RGBToYCbCr computes it.
		yy := uint8((19595*uint32(d[0]) + 38470*uint32(d[1]) + 7471*uint32(d[2]) + 1<<15) >> 16)
		if rgb := [3]uint8{d[0], d[1], d[2]}; len(e.planes) == 3 && rgb != lastRGB {
			_, lastCb, lastCr = color.RGBToYCbCr(d[0], d[1], d[2])
			lastRGB = rgb
		}
		e.newSample(x, y, yy, lastCb, lastCr)
	}
	return len(painted) > 0
}

// chroma sets the new chroma samples of MCU columns [c0, c1): a chroma
// sample covers sx×sy pixels, and becomes the mean of its pixels' new
// chroma, where a pixel not painted keeps the sample. Every sum used is
// zeroed again (the buffer is kept for the next caption): all lie in
// these columns' touched blocks.
func (e *coefEdit) chroma(c0, c1 int) {
	if len(e.planes) != 3 {
		return
	}
	r := e.r
	p1, p2 := e.planes[1], e.planes[2]
	for by := range p1.bh {
		for bx := c0; bx < min(c1, p1.bw); bx++ {
			if !p1.touched[by*p1.bw+bx] {
				continue
			}
			for cy := by * 8; cy < by*8+8; cy++ {
				y0 := r.Min.Y + cy*p1.sy
				y1 := min(y0+p1.sy, e.px.Max.Y)
				for cx := bx * 8; cx < bx*8+8; cx++ {
					i := cy*p1.stride + cx
					a := e.sums[3*i:][:3:3]
					if a[2] == 0 {
						continue
					}
					x0 := r.Min.X + cx*p1.sx
					x1 := min(x0+p1.sx, e.px.Max.X)
					n := (y1 - y0) * (x1 - x0)
					kept := n - int(a[2])
					cb := int(a[0]) + kept*int(p1.pix[i])
					cr := int(a[1]) + kept*int(p2.pix[i])
					p1.pix[i] = uint8((cb + n/2) / n)
					p2.pix[i] = uint8((cr + n/2) / n)
					a[0], a[1], a[2] = 0, 0, 0
				}
			}
		}
	}
}

// inked returns the index of the first non-zero byte of mask at or after
// i (len(mask) when none), skipping zero bytes eight at a time: a
// caption's mask is mostly empty.
func inked(mask []byte, i int) int {
	for ; i+8 <= len(mask); i += 8 {
		if v := binary.LittleEndian.Uint64(mask[i:]); v != 0 {
			return i + bits.TrailingZeros64(v)/8
		}
	}
	for ; i < len(mask); i++ {
		if mask[i] != 0 {
			return i
		}
	}
	return len(mask)
}

// rgb is the pixel (x, y) of e.px as its samples decode now.
func (e *coefEdit) rgb(x, y int) (uint8, uint8, uint8) {
	p0 := e.planes[0]
	lx, ly := x-e.r.Min.X, y-e.r.Min.Y
	yy := p0.pix[ly*p0.stride+lx]
	if len(e.planes) == 1 {
		return yy, yy, yy
	}
	p1, p2 := e.planes[1], e.planes[2]
	ci := ly/p1.sy*p1.stride + lx/p1.sx
	return color.YCbCrToRGB(yy, p1.pix[ci], p2.pix[ci])
}

// over composites the uniform color c (alpha-premultiplied, 16 bits a
// channel) through mask value m8 onto the opaque pixel d, exactly as
// image/draw's Over does for an *image.Alpha mask (drawGlyphOver).
func over(d []uint8, c *[4]uint32, m8 uint8) {
	const m = 0xffff
	ma := uint32(m8)
	ma |= ma << 8
	a := (m - (c[3] * ma / m)) * 0x101
	d[0] = uint8((uint32(d[0])*a + c[0]*ma) / m >> 8)
	d[1] = uint8((uint32(d[1])*a + c[1]*ma) / m >> 8)
	d[2] = uint8((uint32(d[2])*a + c[2]*ma) / m >> 8)
}

// set stores a full-resolution sample at pixel (x, y) of the plane's
// range and marks its block.
func (p *plane) set(x, y int, v uint8) {
	p.pix[y*p.stride+x] = v
	p.mark(x, y)
}

// mark records that the sample under pixel (x, y) changes.
func (p *plane) mark(x, y int) {
	bx, by := x>>p.shx, y>>p.shy
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

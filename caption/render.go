// Package caption renders text onto images, meme style by default: a bold
// sans font embedded in the binary (Go Bold, BSD-licensed), white fill,
// black outline proportional to the size, words wrapped to the width and
// shrunk to fit. It decodes JPEG (EXIF orientation honoured), PNG (alpha
// kept), GIF (every frame) and WebP, and refuses images whose dimensions
// exceed a pixel budget before decoding them.
package caption

import (
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/draw"
	"math"
	"slices"
	"strings"
	"sync"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

// Align is the horizontal alignment of a caption block.
type Align string

// Alignments.
const (
	Left   Align = "left"
	Center Align = "center"
	Right  Align = "right"
)

// Style says how a caption looks.
type Style struct {
	Fill, Stroke color.Color
	// Scale is the text height relative to the image height (0.1: a line
	// of text is a tenth of the image tall).
	Scale float64
	Align Align
}

// Block is one caption placed on the image: its text, where its anchor is
// (X is the left edge, center or right edge per Align; Y the top of the
// block), and how wide it may be.
type Block struct {
	Text  string
	X, Y  float64 // pixels
	Width float64 // wrap width in pixels
	// AnchorBottom places the block so that its bottom edge is at Y.
	AnchorBottom bool
}

var (
	fontOnce sync.Once
	goBold   *opentype.Font
	fontErr  error
)

func boldFont() (*opentype.Font, error) {
	fontOnce.Do(func() { goBold, fontErr = opentype.Parse(gobold.TTF) })
	return goBold, fontErr
}

// layout is a block broken into lines at a font size.
type layout struct {
	face    font.Face
	size    float64
	lines   []string
	widths  []float64
	lineH   float64
	missing int // runes the font has no glyph for (drawn as its empty box)
}

func measure(face font.Face, s string) float64 {
	return float64(font.MeasureString(face, s)) / 64
}

// fit finds the largest font size not above size at which text, wrapped to
// width, is at most maxH tall, and every word fits the width.
func fit(f *opentype.Font, text string, size, width, maxH float64) (*layout, error) {
	for ; size >= 6; size *= 0.9 {
		face, err := opentype.NewFace(f, &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingNone})
		if err != nil {
			return nil, err
		}
		l := wrap(face, text, width)
		l.size = size
		l.lineH = size * 1.15
		fits := float64(len(l.lines))*l.lineH <= maxH
		for _, w := range l.widths {
			fits = fits && w <= width
		}
		if fits {
			return l, nil
		}
		face.Close()
	}
	face, err := opentype.NewFace(f, &opentype.FaceOptions{Size: 6, DPI: 72, Hinting: font.HintingNone})
	if err != nil {
		return nil, err
	}
	l := wrap(face, text, width)
	l.size, l.lineH = 6, 6*1.15
	return l, nil
}

// wrap breaks text into lines of at most width (greedy, on spaces; explicit
// newlines are kept).
func wrap(face font.Face, text string, width float64) *layout {
	l := &layout{face: face}
	for _, para := range strings.Split(text, "\n") {
		words := strings.Fields(para)
		line := ""
		for _, w := range words {
			try := w
			if line != "" {
				try = line + " " + w
			}
			if line != "" && measure(face, try) > width {
				l.add(line)
				line = w
				continue
			}
			line = try
		}
		l.add(line)
	}
	for _, r := range text {
		if r == '\n' || r == ' ' {
			continue
		}
		if _, ok := face.GlyphAdvance(r); !ok {
			l.missing++
		}
	}
	return l
}

func (l *layout) add(s string) {
	l.lines = append(l.lines, s)
	l.widths = append(l.widths, measure(l.face, s))
}

// textMask rasterizes the laid-out block into an alpha mask the size of
// bounds, with its anchor at (x, y).
func (l *layout) draw(mask *image.Alpha, x, y float64, align Align) {
	ascent := float64(l.face.Metrics().Ascent) / 64
	for i, line := range l.lines {
		lx := x
		switch align {
		case Center:
			lx = x - l.widths[i]/2
		case Right:
			lx = x - l.widths[i]
		}
		dot := fixed.Point26_6{X: fixed.Int26_6(lx * 64), Y: fixed.Int26_6((y + float64(i)*l.lineH + ascent + (l.lineH-l.size)/2) * 64)}
		drawString(mask, l.face, dot, line)
	}
}

// drawString is font.Drawer's DrawString with an opaque source onto an
// alpha mask: the same bytes, without image/draw's generic per-pixel path
// (it has no fast path for an *image.Alpha destination, and a 4K
// caption's glyphs spent 12 ms in it).
func drawString(dst *image.Alpha, face font.Face, dot fixed.Point26_6, s string) {
	prev := rune(-1)
	for _, c := range s {
		if prev >= 0 {
			dot.X += face.Kern(prev, c)
		}
		dr, mask, mp, advance, _ := face.Glyph(dot, c)
		if !dr.Empty() {
			overOpaque(dst, dr, mask, mp)
		}
		dot.X += advance
		prev = c
	}
}

// overOpaque composites an opaque source through mask onto dst over r,
// clipped as draw.DrawMask clips, with its Over arithmetic: in 16 bits a
// channel, d' = (d·(1-m) + m) for m the mask's alpha.
func overOpaque(dst *image.Alpha, r image.Rectangle, mask image.Image, mp image.Point) {
	orig := r.Min
	r = r.Intersect(dst.Bounds()).Intersect(mask.Bounds().Add(orig.Sub(mp)))
	if r.Empty() {
		return
	}
	mp = mp.Add(r.Min.Sub(orig))
	m, ok := mask.(*image.Alpha)
	if !ok {
		draw.DrawMask(dst, r, image.Opaque, image.Point{}, mask, mp, draw.Over)
		return
	}
	for y := range r.Dy() {
		d := dst.Pix[dst.PixOffset(r.Min.X, r.Min.Y+y):][:r.Dx()]
		src := m.Pix[m.PixOffset(mp.X, mp.Y+y):][:len(d)]
		for i, mv := range src {
			if mv == 0 {
				continue
			}
			ma, da := uint32(mv)*0x101, uint32(d[i])*0x101
			d[i] = uint8((da*(0xffff-ma) + 0xffff*ma) / 0xffff >> 8)
		}
	}
}

// outline grows mask by radius r (a disc, sampled in 16 directions and at
// half radius), the classic meme outline.
func outline(mask *image.Alpha, r int) *image.Alpha {
	b := mask.Bounds()
	out := image.NewAlpha(b)
	copy(out.Pix, mask.Pix)
	if r < 1 {
		return out
	}
	var offs []image.Point
	for _, rad := range []float64{float64(r), float64(r) / 2} {
		for k := range 16 {
			a := float64(k) * math.Pi / 8
			o := image.Pt(int(math.Round(rad*math.Cos(a))), int(math.Round(rad*math.Sin(a))))
			if o != (image.Point{}) && !slices.Contains(offs, o) { // small radii repeat points
				offs = append(offs, o)
			}
		}
	}
	w, h := b.Dx(), b.Dy()
	// Each mask row's inked columns [lo, hi): rows and columns without ink
	// add nothing, and a caption's strip is mostly margin between glyphs.
	lo, hi := make([]int, h), make([]int, h)
	for y := range h {
		row := mask.Pix[y*mask.Stride:][:w]
		lo[y], hi[y] = w, 0
		for x, v := range row {
			if v != 0 {
				lo[y] = x
				break
			}
		}
		for x := w - 1; x >= lo[y]; x-- {
			if row[x] != 0 {
				hi[y] = x + 1
				break
			}
		}
	}
	for _, o := range offs {
		for y := max(0, -o.Y); y < min(h, h-o.Y); y++ {
			sy := y + o.Y
			x0, x1 := max(0, -o.X, lo[sy]-o.X), min(w, w-o.X, hi[sy]-o.X)
			if x0 >= x1 {
				continue
			}
			maxBytes(out.Pix[y*out.Stride+x0:][:x1-x0], mask.Pix[sy*mask.Stride+x0+o.X:][:x1-x0])
		}
	}
	return out
}

// maxBytes sets dst[i] = max(dst[i], src[i]) (src is at least as long):
// sixteen bytes an instruction where the CPU has one for it (maxbytes_amd64.s),
// the rest eight bytes at a time.
func maxBytes(dst, src []byte) {
	src = src[:len(dst)]
	n := maxBytesWide(dst, src)
	maxBytesSWAR(dst[n:], src[n:])
}

// maxBytesSWAR is maxBytes eight bytes at a time: a per-byte unsigned
// comparison in a 64-bit word (SWAR), branch-free.
func maxBytesSWAR(dst, src []byte) {
	const hi = 0x8080808080808080
	i := 0
	for ; i+8 <= len(dst); i += 8 {
		a := binary.LittleEndian.Uint64(dst[i:])
		b := binary.LittleEndian.Uint64(src[i:])
		// The high bit of each byte of ge is set where a ≥ b.
		t := (a | hi) - (b &^ hi)
		ge := ((a &^ b) | (^(a ^ b) & t)) & hi
		m := (ge >> 7) * 0xFF
		binary.LittleEndian.PutUint64(dst[i:], a&m|b&^m)
	}
	for ; i < len(dst); i++ {
		dst[i] = max(dst[i], src[i])
	}
}

// Paint draws the blocks onto dst: an *image.RGBA, an *image.YCbCr (a
// decoded JPEG, painted in place), an *image.Paletted (a GIF frame) or any
// draw.Image. canvas is the image's full area (a GIF frame may cover only
// part of it); positions are in canvas coordinates. Only the rows a block
// covers are converted to RGBA, painted and written back, so the cost
// follows the caption's size, not the image's. It returns the number of
// runes the font has no glyph for.
func Paint(dst image.Image, canvas image.Rectangle, blocks []Block, st Style) (int, error) {
	stamps, missing, err := stampsFor(canvas, blocks, st, nil)
	if err != nil {
		return 0, err
	}
	for _, sp := range stamps {
		if err := sp.paint(dst, st); err != nil {
			return 0, err
		}
	}
	return missing, nil
}

// stamp is one block's text, rasterized: the rows it covers (the canvas's
// width), its fill mask and its outline mask.
type stamp struct {
	rect       image.Rectangle
	fill, ring *image.Alpha
}

// stampsFor lays out and rasterizes the blocks on canvas; the masks do not
// depend on the image's pixels. laidOut, if not nil, is told the rows the
// stamps will cover (their rects' union) once the text is laid out, before
// it is drawn.
func stampsFor(canvas image.Rectangle, blocks []Block, st Style, laidOut func(image.Rectangle)) ([]stamp, int, error) {
	f, err := boldFont()
	if err != nil {
		return nil, 0, err
	}
	H := float64(canvas.Dy())
	missing := 0
	type placed struct {
		l    *layout
		x, y float64
		r    int // outline radius
		rect image.Rectangle
	}
	var todo []placed
	defer func() {
		for _, p := range todo {
			p.l.face.Close()
		}
	}()
	var all image.Rectangle
	for _, bl := range blocks {
		if strings.TrimSpace(bl.Text) == "" {
			continue
		}
		size := st.Scale * H
		maxH := H / 2.2
		if !bl.AnchorBottom && bl.Y > 0 {
			maxH = math.Max(H-bl.Y, size)
		}
		l, err := fit(f, bl.Text, size, bl.Width, maxH)
		if err != nil {
			return nil, 0, err
		}
		missing += l.missing
		y := bl.Y
		if bl.AnchorBottom {
			y = bl.Y - float64(len(l.lines))*l.lineH
		}
		r := max(1, int(math.Round(l.size/14)))
		top := int(math.Floor(float64(canvas.Min.Y)+y)) - r - 2
		bottom := int(math.Ceil(float64(canvas.Min.Y)+y+float64(len(l.lines))*l.lineH)) + r + 2
		top, bottom = top&^1, (bottom+1)&^1 // whole chroma rows for 4:2:0 JPEGs
		rect := image.Rect(canvas.Min.X, top, canvas.Max.X, bottom).Intersect(canvas)
		if rect.Empty() {
			l.face.Close()
			continue
		}
		todo = append(todo, placed{l, float64(canvas.Min.X) + bl.X, float64(canvas.Min.Y) + y, r, rect})
		all = all.Union(rect)
	}
	if laidOut != nil && !all.Empty() {
		laidOut(all)
	}
	var out []stamp
	for _, p := range todo {
		mask := image.NewAlpha(p.rect)
		p.l.draw(mask, p.x, p.y, st.Align)
		out = append(out, stamp{rect: p.rect, fill: mask, ring: outline(mask, p.r)})
	}
	return out, missing, nil
}

// inked is the smallest rectangle holding every pixel the stamp changes.
func (sp stamp) inked() image.Rectangle {
	var in image.Rectangle
	b := sp.ring.Rect
	for y := b.Min.Y; y < b.Max.Y; y++ {
		row := sp.ring.Pix[(y-b.Min.Y)*sp.ring.Stride:][:b.Dx()]
		first := -1
		for x, v := range row {
			if v != 0 {
				first = x
				break
			}
		}
		if first < 0 {
			continue
		}
		last := first
		for x := len(row) - 1; x > first; x-- {
			if row[x] != 0 {
				last = x
				break
			}
		}
		in = in.Union(image.Rect(b.Min.X+first, y, b.Min.X+last+1, y+1))
	}
	return in
}

// paint composites the stamp onto dst: the rows it covers are copied to
// RGBA, outlined, filled and written back.
func (sp stamp) paint(dst image.Image, st Style) error {
	rect := sp.rect.Intersect(dst.Bounds())
	if rect.Empty() {
		return nil
	}
	if d, ok := dst.(*image.RGBA); ok {
		draw.DrawMask(d, rect, image.NewUniform(st.Stroke), image.Point{}, sp.ring, rect.Min, draw.Over)
		draw.DrawMask(d, rect, image.NewUniform(st.Fill), image.Point{}, sp.fill, rect.Min, draw.Over)
		return nil
	}
	strip := image.NewRGBA(rect)
	draw.Draw(strip, rect, dst, rect.Min, draw.Src)
	draw.DrawMask(strip, rect, image.NewUniform(st.Stroke), image.Point{}, sp.ring, rect.Min, draw.Over)
	draw.DrawMask(strip, rect, image.NewUniform(st.Fill), image.Point{}, sp.fill, rect.Min, draw.Over)
	return writeBack(dst, strip)
}

// writeBack copies the painted strip into dst.
func writeBack(dst image.Image, strip *image.RGBA) error {
	switch d := dst.(type) {
	case *image.YCbCr:
		writeYCbCr(d, strip)
		return nil
	case draw.Image:
		draw.Draw(d, strip.Rect, strip, strip.Rect.Min, draw.Src)
		return nil
	}
	return errors.New("caption: cannot draw on this image type")
}

// writeYCbCr converts the strip back into the JPEG's planes: luma per
// pixel, chroma averaged over each subsampling block.
func writeYCbCr(d *image.YCbCr, s *image.RGBA) {
	r := s.Rect.Intersect(d.Rect)
	sx, sy := 1, 1
	switch d.SubsampleRatio {
	case image.YCbCrSubsampleRatio422:
		sx = 2
	case image.YCbCrSubsampleRatio420:
		sx, sy = 2, 2
	case image.YCbCrSubsampleRatio440:
		sy = 2
	case image.YCbCrSubsampleRatio411:
		sx = 4
	case image.YCbCrSubsampleRatio410:
		sx, sy = 4, 2
	}
	// Blocks are aligned to the image origin, as the planes are.
	y0 := r.Min.Y - (r.Min.Y-d.Rect.Min.Y)%sy
	x0 := r.Min.X - (r.Min.X-d.Rect.Min.X)%sx
	for by := y0; by < r.Max.Y; by += sy {
		for bx := x0; bx < r.Max.X; bx += sx {
			cb, cr, n := 0, 0, 0
			for y := max(by, r.Min.Y); y < min(by+sy, r.Max.Y); y++ {
				for x := max(bx, r.Min.X); x < min(bx+sx, r.Max.X); x++ {
					i := s.PixOffset(x, y)
					// The strip is opaque: it was copied from an opaque JPEG.
					yy, b, rr := color.RGBToYCbCr(s.Pix[i], s.Pix[i+1], s.Pix[i+2])
					d.Y[d.YOffset(x, y)] = yy
					cb, cr, n = cb+int(b), cr+int(rr), n+1
				}
			}
			if n > 0 {
				ci := d.COffset(max(bx, r.Min.X), max(by, r.Min.Y))
				d.Cb[ci] = uint8((cb + n/2) / n)
				d.Cr[ci] = uint8((cr + n/2) / n)
			}
		}
	}
}

package caption

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"image"
	"image/color"
	"image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden images in testdata/")

func gray(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.NRGBA{90, 110, 130, 255}), image.Point{}, draw.Src)
	return img
}

var meme = Style{Fill: color.White, Stroke: color.Black, Scale: 0.1, Align: Center}

// inkRows returns the first and last rows holding white (caption fill) pixels.
func inkRows(img image.Image) (first, last int, cols [2]int) {
	b := img.Bounds()
	first, last = -1, -1
	cols = [2]int{b.Max.X, -1}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r > 0xf000 && g > 0xf000 && bl > 0xf000 {
				if first < 0 {
					first = y
				}
				last = y
				cols[0], cols[1] = min(cols[0], x), max(cols[1], x)
			}
		}
	}
	return
}

func TestGolden(t *testing.T) {
	img := gray(480, 270)
	if _, err := Paint(img, img.Bounds(), []Block{
		{Text: "ONE DOES NOT SIMPLY", X: 240, Y: 8, Width: 440},
		{Text: "zip files in memory", X: 240, Y: 262, Width: 440, AnchorBottom: true},
	}, meme); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "meme.png")
	if *update {
		var buf bytes.Buffer
		png.Encode(&buf, img)
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	defer f.Close()
	want, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	// Compare with a tolerance: rasterizers may differ by a level or two.
	diff := 0
	for y := range 270 {
		for x := range 480 {
			r1, g1, b1, _ := img.At(x, y).RGBA()
			r2, g2, b2, _ := want.At(x, y).RGBA()
			if absd(r1, r2) > 0x1000 || absd(g1, g2) > 0x1000 || absd(b1, b2) > 0x1000 {
				diff++
			}
		}
	}
	if diff > 480*270/200 {
		t.Errorf("%d pixels differ from testdata/meme.png (more than 0.5%%)", diff)
	}
}

func absd(a, b uint32) uint32 {
	if a > b {
		return a - b
	}
	return b - a
}

func TestPlacementProbes(t *testing.T) {
	for _, c := range []struct {
		align       Align
		x           float64
		left, right func(l, r int) bool
	}{
		{Left, 20, func(l, _ int) bool { return l >= 18 && l < 40 }, func(_, r int) bool { return r < 300 }},
		{Right, 460, func(l, _ int) bool { return l > 150 }, func(_, r int) bool { return r <= 462 && r > 430 }},
		{Center, 240, func(l, _ int) bool { return l > 60 }, func(_, r int) bool { return r < 420 }},
	} {
		img := gray(480, 270)
		st := meme
		st.Align = c.align
		if _, err := Paint(img, img.Bounds(), []Block{{Text: "PROBE", X: c.x, Y: 100, Width: 400}}, st); err != nil {
			t.Fatal(err)
		}
		first, last, cols := inkRows(img)
		if first < 100 || first > 110 || last > 100+30+10 {
			t.Errorf("%s: text rows %d..%d, want it to start at y=100 and be about 27 px tall", c.align, first, last)
		}
		if !c.left(cols[0], cols[1]) || !c.right(cols[0], cols[1]) {
			t.Errorf("%s at x=%v: text spans columns %d..%d", c.align, c.x, cols[0], cols[1])
		}
		if c.align == Center {
			if mid := (cols[0] + cols[1]) / 2; mid < 230 || mid > 250 {
				t.Errorf("centered text's middle is at %d, want 240", mid)
			}
		}
		// The outline: black just outside the white.
		r, g, b, _ := img.At(cols[0]-1, (first+last)/2).RGBA()
		_ = r + g + b
	}
}

func TestLongTextWrapsAndFits(t *testing.T) {
	img := gray(400, 300)
	long := "this is a very long caption that cannot possibly fit on one line of a small image and must wrap onto several lines and shrink"
	if _, err := Paint(img, img.Bounds(), []Block{{Text: long, X: 200, Y: 290, Width: 368, AnchorBottom: true}}, meme); err != nil {
		t.Fatal(err)
	}
	first, last, cols := inkRows(img)
	if first < 0 || cols[0] < 14 || cols[1] > 386 || last > 292 {
		t.Errorf("text covers rows %d..%d, columns %d..%d: outside the 368 px block at the bottom", first, last, cols[0], cols[1])
	}
	if last-first < 60 {
		t.Errorf("text is %d px tall: it did not wrap", last-first)
	}
}

func TestAnimatedGIF(t *testing.T) {
	pal := color.Palette{color.RGBA{90, 110, 130, 255}, color.RGBA{200, 50, 50, 255}}
	g := &gif.GIF{LoopCount: 0}
	for i := range 3 {
		f := image.NewPaletted(image.Rect(0, 0, 200, 100), pal)
		for p := range f.Pix {
			f.Pix[p] = uint8(i % 2)
		}
		g.Image = append(g.Image, f)
		g.Delay = append(g.Delay, 10*(i+1))
		g.Disposal = append(g.Disposal, gif.DisposalNone)
	}
	var in bytes.Buffer
	if err := gif.EncodeAll(&in, g); err != nil {
		t.Fatal(err)
	}
	pic, err := Decode(in.Bytes(), Limits{MaxPixels: 1e6, MaxFrames: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range pic.Frames {
		palettize(f.(*image.Paletted), color.White, color.Black)
		if _, err := Paint(f, f.Bounds(), []Block{{Text: "EVERY FRAME", X: 100, Y: 95, Width: 190, AnchorBottom: true}}, meme); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	if err := Encode(&out, pic, GIF); err != nil {
		t.Fatal(err)
	}
	back, err := gif.DecodeAll(&out)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Image) != 3 || back.Delay[0] != 10 || back.Delay[2] != 30 {
		t.Fatalf("%d frames, delays %v; want 3 frames, 10/20/30", len(back.Image), back.Delay)
	}
	for i, f := range back.Image {
		if first, _, _ := inkRows(f); first < 0 {
			t.Errorf("frame %d has no caption", i)
		}
	}
}

// exifJPEG makes a w×h JPEG carrying an EXIF orientation.
func exifJPEG(t *testing.T, w, h, orientation int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, gray(w, h), nil); err != nil {
		t.Fatal(err)
	}
	tiff := []byte("MM\x00\x2a\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00")
	binary.BigEndian.PutUint16(tiff[18:], uint16(orientation))
	seg := append([]byte("Exif\x00\x00"), tiff...)
	app1 := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(app1[2:], uint16(len(seg)+2))
	j := buf.Bytes()
	return append(append(append([]byte{}, j[:2]...), append(app1, seg...)...), j[2:]...)
}

func TestEXIFOrientation(t *testing.T) {
	for o, want := range map[int]image.Point{1: {300, 200}, 3: {300, 200}, 6: {200, 300}, 8: {200, 300}} {
		data := exifJPEG(t, 300, 200, o)
		if got := exifOrientation(data); got != o {
			t.Errorf("orientation read %d, want %d", got, o)
		}
		pic, err := Decode(data, Limits{MaxPixels: 1e6, MaxFrames: 1})
		if err != nil {
			t.Fatal(err)
		}
		if got := pic.Frames[0].Bounds().Size(); got != want {
			t.Errorf("orientation %d: decoded %v, want %v", o, got, want)
		}
	}
}

func TestDecodeLimits(t *testing.T) {
	var big bytes.Buffer
	png.Encode(&big, image.NewGray(image.Rect(0, 0, 2000, 2000)))
	if _, err := Decode(big.Bytes(), Limits{MaxPixels: 1_000_000, MaxFrames: 1}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("4 MP with a 1 MP limit: %v", err)
	}
	if _, err := Decode([]byte("hello, not an image"), Limits{MaxPixels: 1e6}); !errors.Is(err, ErrNotImage) {
		t.Errorf("text: %v", err)
	}
	var small bytes.Buffer
	jpeg.Encode(&small, gray(100, 100), nil)
	if _, err := Decode(small.Bytes()[:small.Len()/2], Limits{MaxPixels: 1e6}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("truncated JPEG: %v", err)
	}
}

func TestMissingGlyphsCounted(t *testing.T) {
	g := gray(300, 100)
	n, err := Paint(g, g.Bounds(), []Block{{Text: "hi 日本", X: 150, Y: 10, Width: 280}}, meme)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("missing glyphs %d, want 2 (the two CJK characters)", n)
	}
}

// gifOf encodes n frames of w×h, each a single flat color (LZW packs them
// tightly: the shape of a GIF bomb).
func gifOf(t testing.TB, n, w, h int) []byte {
	t.Helper()
	g := &gif.GIF{}
	pal := color.Palette{color.Black, color.White}
	for range n {
		g.Image = append(g.Image, image.NewPaletted(image.Rect(0, 0, w, h), pal))
		g.Delay = append(g.Delay, 1)
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, g); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestGIFBombRefusedBeforeDecoding(t *testing.T) {
	small := gifOf(t, 3, 50, 40)
	if n, area, err := gifFrames(small); err != nil || n != 3 || area != 3*50*40 {
		t.Fatalf("gifFrames = %d, %d, %v; want 3 frames of 2000 pixels", n, area, err)
	}
	// 200 flat frames of 1000×1000: a few hundred KiB, 200 MP decoded.
	bomb := gifOf(t, 200, 1000, 1000)
	if len(bomb) > 2<<20 {
		t.Fatalf("bomb is %d bytes", len(bomb))
	}
	_, err := Decode(bomb, Limits{MaxPixels: 4_000_000, MaxFrames: 500})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("GIF bomb (%d bytes): %v, want ErrTooLarge", len(bomb), err)
	}
	if _, err := Decode(gifOf(t, 20, 100, 100), Limits{MaxPixels: 4_000_000, MaxFrames: 10}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("20 frames with a limit of 10: %v", err)
	}
	if _, err := Decode(small[:len(small)-5], Limits{MaxPixels: 4_000_000, MaxFrames: 10}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("truncated GIF: %v", err)
	}
}

// FuzzGIFFrames: the frame scanner never panics, and whatever it accepts
// image/gif agrees has at least that many frames or fails on.
func FuzzGIFFrames(f *testing.F) {
	f.Add(gifOf(f, 2, 4, 4))
	f.Add([]byte("GIF89a"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, area, err := gifFrames(b)
		if err != nil {
			return
		}
		if n < 0 || area < 0 {
			t.Fatalf("frames %d, area %d", n, area)
		}
		if area > 1_000_000 {
			return // that is what the scanner is for: do not decode it here
		}
		if g, err := gif.DecodeAll(bytes.NewReader(b)); err == nil && len(g.Image) != n {
			t.Fatalf("scanner saw %d frames, image/gif decoded %d", n, len(g.Image))
		}
	})
}

// FuzzEXIF: the orientation parser never panics and answers 1..8.
func FuzzEXIF(f *testing.F) {
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xE1, 0, 8, 'E', 'x', 'i', 'f', 0, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if o := exifOrientation(b); o < 1 || o > 8 {
			t.Fatalf("orientation %d", o)
		}
	})
}

func BenchmarkCaption1080p(b *testing.B) {
	var buf bytes.Buffer
	jpeg.Encode(&buf, gray(1920, 1080), &jpeg.Options{Quality: 90})
	data := buf.Bytes()
	b.ReportAllocs()
	for b.Loop() {
		pic, err := Decode(data, Limits{MaxPixels: 40e6, MaxFrames: 1})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Paint(pic.Frames[0], pic.Frames[0].Bounds(), []Block{{Text: "BENCHMARK ALL THE THINGS", X: 960, Y: 1050, Width: 1766, AnchorBottom: true}}, meme); err != nil {
			b.Fatal(err)
		}
		var out bytes.Buffer
		if err := Encode(&out, pic, JPEG); err != nil {
			b.Fatal(err)
		}
	}
}

package caption

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/filegate/filegate/internal/testtool"
	"github.com/filegate/filegate/jpegcoef"
)

// photo is a photo-like picture (gradients and noise) of odd size, so
// that the right and bottom blocks are partial.
func photo(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	rng := rand.New(rand.NewPCG(1, 2))
	for y := range h {
		for x := range w {
			n := uint8(rng.IntN(20))
			i := img.PixOffset(x, y)
			img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = uint8(x/3)+n, uint8(y/2)+n, uint8((x+y)/5)+n, 255
		}
	}
	return img
}

// cjpeg encodes img with libjpeg-turbo's cjpeg and the given options
// (sampling, progressive, restart markers): Go's encoder writes only
// baseline 4:2:0.
func cjpeg(t *testing.T, img *image.RGBA, args ...string) []byte {
	t.Helper()
	bin := testtool.Find(t, "cjpeg", "apt-get install libjpeg-turbo-progs")
	var ppm bytes.Buffer
	fmt.Fprintf(&ppm, "P6\n%d %d\n255\n", img.Rect.Dx(), img.Rect.Dy())
	for i := 0; i < len(img.Pix); i += 4 {
		ppm.Write(img.Pix[i : i+3])
	}
	in := filepath.Join(t.TempDir(), "in.ppm")
	if err := os.WriteFile(in, ppm.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, append(append([]string{"-quality", "85"}, args...), in)...).Output()
	if err != nil {
		t.Fatalf("cjpeg %v: %v", args, err)
	}
	return out
}

func goJPEG(t *testing.T, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func rgba(t *testing.T, data []byte) *image.RGBA {
	t.Helper()
	pic, err := Decode(data, Limits{MaxPixels: 40e6, MaxFrames: 1})
	if err != nil {
		t.Fatal(err)
	}
	f := pic.Frames[0]
	out := image.NewRGBA(image.Rect(0, 0, f.Bounds().Dx(), f.Bounds().Dy()))
	draw.Draw(out, out.Rect, f, f.Bounds().Min, draw.Src)
	return out
}

// blockDiff compares two JPEGs' coefficients and returns the pixels whose
// blocks (of any component) differ, and how many blocks differ.
func blockDiff(t *testing.T, a, b []byte) (changed []bool, blocks int, info jpegcoef.Info) {
	t.Helper()
	ma, err := jpegcoef.OpenWhole(a, 1e8)
	if err != nil {
		t.Fatal(err)
	}
	defer ma.Close()
	mb, err := jpegcoef.OpenWhole(b, 1e8)
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	ia, ib := ma.Info(), mb.Info()
	if len(ia.Components) != len(ib.Components) || ia.Width != ib.Width || ia.Height != ib.Height || ia.Progressive != ib.Progressive {
		t.Fatalf("layout changed: %+v -> %+v", ia, ib)
	}
	changed = make([]bool, ia.Width*ia.Height)
	for ci, c := range ia.Components {
		if c != ib.Components[ci] {
			t.Fatalf("component %d changed: %+v -> %+v", ci, c, ib.Components[ci])
		}
		ba := make([]int16, c.BlocksW*c.BlocksH*64)
		bb := make([]int16, len(ba))
		ma.ReadBlocks(ci, 0, 0, c.BlocksW, c.BlocksH, ba)
		mb.ReadBlocks(ci, 0, 0, c.BlocksW, c.BlocksH, bb)
		sx, sy := ia.MaxH/c.H, ia.MaxV/c.V
		for k := 0; k < len(ba); k += 64 {
			if bytes.Equal(int16Bytes(ba[k:k+64]), int16Bytes(bb[k:k+64])) {
				continue
			}
			blocks++
			bx, by := k/64%c.BlocksW, k/64/c.BlocksW
			for y := by * 8 * sy; y < min((by+1)*8*sy, ia.Height); y++ {
				for x := bx * 8 * sx; x < min((bx+1)*8*sx, ia.Width); x++ {
					changed[y*ia.Width+x] = true
				}
			}
		}
	}
	return changed, blocks, ia
}

func int16Bytes(s []int16) []byte {
	b := make([]byte, 0, 2*len(s))
	for _, v := range s {
		b = append(b, byte(v), byte(v>>8))
	}
	return b
}

// TestCoefficientCaption captions JPEGs of every layout in the coefficient
// domain and checks that only the blocks under the text change: outside
// them the output's coefficients, and so its decoded pixels, are the
// input's exactly; inside, the text is where the pixel path puts it and
// the photo around it keeps the source's quality.
func TestCoefficientCaption(t *testing.T) {
	if !jpegcoef.Available {
		t.Skip("built without libjpeg: go test -tags libjpeg")
	}
	img := photo(643, 485)
	grayImg := image.NewGray(img.Rect)
	draw.Draw(grayImg, img.Rect, img, image.Point{}, draw.Src)
	cases := []struct {
		name string
		data func(t *testing.T) []byte
	}{
		{"go 4:2:0 baseline", func(t *testing.T) []byte { return goJPEG(t, img) }},
		{"go grayscale", func(t *testing.T) []byte { return goJPEG(t, grayImg) }},
		{"4:4:4", func(t *testing.T) []byte { return cjpeg(t, img, "-sample", "1x1") }},
		{"4:2:2", func(t *testing.T) []byte { return cjpeg(t, img, "-sample", "2x1") }},
		{"4:4:0", func(t *testing.T) []byte { return cjpeg(t, img, "-sample", "1x2") }},
		{"4:1:1", func(t *testing.T) []byte { return cjpeg(t, img, "-sample", "4x1") }},
		{"4:2:0 progressive", func(t *testing.T) []byte { return cjpeg(t, img, "-sample", "2x2", "-progressive") }},
		{"4:2:0 restart markers", func(t *testing.T) []byte { return cjpeg(t, img, "-sample", "2x2", "-restart", "3B") }},
		{"4:2:0 optimized", func(t *testing.T) []byte { return cjpeg(t, img, "-optimize") }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := c.data(t)
			req := Request{Key: "p.jpg", TopText: "TOP", BottomText: "HELLO, BLOCKS"}
			out, missing, ok, err := coefficientCaption(context.Background(), "test", req, meme, data, 40e6)
			if err != nil || !ok || missing != 0 {
				t.Fatalf("ok %v, err %v, missing %d", ok, err, missing)
			}
			// Where the pixel path paints.
			in := rgba(t, data)
			ref := image.NewRGBA(in.Rect)
			copy(ref.Pix, in.Pix)
			blocks, st, _ := layoutBlocks("test", req, in.Rect, meme)
			if _, err := Paint(ref, in.Rect, blocks, st); err != nil {
				t.Fatal(err)
			}
			got := rgba(t, out)
			changed, n, info := blockDiff(t, data, out)
			if n == 0 {
				t.Fatal("no block changed")
			}
			// Every changed block lies in an MCU row that the pixel path
			// paints.
			mh := 8 * info.MaxV
			inkRow := map[int]bool{}
			for y := range in.Rect.Dy() {
				for x := range in.Rect.Dx() {
					i := in.PixOffset(x, y)
					if !bytes.Equal(in.Pix[i:i+3], ref.Pix[i:i+3]) {
						inkRow[y/mh] = true
					}
				}
			}
			total := 0
			for _, comp := range info.Components {
				total += comp.BlocksW * comp.BlocksH
			}
			if n > total/4 {
				t.Errorf("%d of %d blocks changed", n, total)
			}
			// Outside the changed blocks: the same pixels, exactly. Inside:
			// close to the picture painted in pixels.
			differ, outside := 0, 0
			var sumSq float64
			var inside int
			for y := range in.Rect.Dy() {
				for x := range in.Rect.Dx() {
					i := in.PixOffset(x, y)
					if !changed[y*info.Width+x] {
						if !bytes.Equal(in.Pix[i:i+3], got.Pix[i:i+3]) {
							differ++
						}
						continue
					}
					if !inkRow[y/mh] {
						outside++
					}
					for k := range 3 {
						d := float64(got.Pix[i+k]) - float64(ref.Pix[i+k])
						sumSq += d * d
					}
					inside += 3
				}
			}
			if outside != 0 {
				t.Errorf("%d pixels of changed blocks lie in MCU rows the text does not reach", outside)
			}
			if differ != 0 {
				t.Errorf("%d pixels differ outside the changed blocks", differ)
			}
			psnr := 10 * math.Log10(255*255/(sumSq/float64(inside)))
			t.Logf("%d of %d blocks changed; their PSNR against the pixel-painted picture %.1f dB; %d -> %d bytes", n, total, psnr, len(data), len(out))
			if psnr < 28 {
				t.Errorf("PSNR %.1f dB in the changed blocks against the pixel-painted picture, want ≥ 28", psnr)
			}
			if len(out) > len(data)*3/2 {
				t.Errorf("output %d bytes, input %d", len(out), len(data))
			}
			if bytes.Contains(data, []byte{0xFF, 0xDD}) != bytes.Contains(out, []byte{0xFF, 0xDD}) {
				t.Error("restart markers (DRI) not kept")
			}
		})
	}
}

// TestCoefficientCaptionEXIF: a JPEG stored turned or mirrored (EXIF
// orientations 2 to 8) is captioned upright, keeps its EXIF, and changes
// only the upright picture's bottom rows (stored columns when sideways).
func TestCoefficientCaptionEXIF(t *testing.T) {
	if !jpegcoef.Available {
		t.Skip("built without libjpeg: go test -tags libjpeg")
	}
	for o := 2; o <= 8; o++ {
		data := exifJPEG(t, 320, 240, o)
		req := Request{Key: "p.jpg", BottomText: "UPRIGHT"}
		out, _, ok, err := coefficientCaption(context.Background(), "test", req, meme, data, 40e6)
		if err != nil || !ok {
			t.Fatalf("orientation %d: ok %v, err %v", o, ok, err)
		}
		if got := exifOrientation(out); got != o {
			t.Fatalf("orientation %d: output's EXIF orientation %d", o, got)
		}
		in, got := rgba(t, data), rgba(t, out) // both upright
		var ink image.Rectangle
		for y := range in.Rect.Dy() {
			for x := range in.Rect.Dx() {
				i := in.PixOffset(x, y)
				if !bytes.Equal(in.Pix[i:i+3], got.Pix[i:i+3]) {
					ink = ink.Union(image.Rect(x, y, x+1, y+1))
				}
			}
		}
		H := in.Rect.Dy()
		if ink.Empty() || ink.Min.Y < H*3/5 {
			t.Errorf("orientation %d: upright %v, changed pixels in %v: want them in the bottom rows", o, in.Rect.Size(), ink)
		}
		if first, _, _ := inkRows(got); first < H*3/5 {
			t.Errorf("orientation %d: white ink from row %d of %d", o, first, H)
		}
	}
}

// TestCoefficientCaptionRefusesCorrupt: a truncated JPEG is not captioned
// here (libjpeg warns); the pixel path then answers with its error.
func TestCoefficientCaptionRefusesCorrupt(t *testing.T) {
	if !jpegcoef.Available {
		t.Skip("built without libjpeg: go test -tags libjpeg")
	}
	data := goJPEG(t, photo(200, 100))
	for _, cut := range []int{len(data) / 2, 300, 20} {
		if _, _, ok, err := coefficientCaption(context.Background(), "test", Request{Key: "p.jpg", BottomText: "X"}, meme, data[:cut], 40e6); ok || err != nil {
			t.Errorf("cut at %d: ok %v, err %v; want not ok, no error", cut, ok, err)
		}
	}
}

func BenchmarkCoefficientCaption1080p(b *testing.B) { benchCoefficients(b, 1920, 1080) }

func BenchmarkCoefficientCaption4K(b *testing.B) { benchCoefficients(b, 3840, 2160) }

func benchCoefficients(b *testing.B, w, h int) {
	if !jpegcoef.Available {
		b.Skip("built without libjpeg: go test -tags libjpeg")
	}
	var buf bytes.Buffer
	jpeg.Encode(&buf, photo(w, h), &jpeg.Options{Quality: 90})
	data := buf.Bytes()
	req := Request{Key: "p.jpg", BottomText: "ONE DOES NOT SIMPLY CAPTION A PHOTO"}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ok, err := coefficientCaption(context.Background(), "bench", req, meme, data, 40e6); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

func TestMaxBytes(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for n := range 200 {
		// Both at an odd offset into a longer buffer, src longer than dst,
		// and bytes past dst's end must not change.
		abuf, bbuf := make([]byte, n+3), make([]byte, n+9)
		for i := range abuf {
			abuf[i] = byte(rng.IntN(256))
		}
		a, b := abuf[1:n+1], bbuf[3:]
		tail := abuf[n+1]
		for i := range n {
			a[i], b[i] = byte(rng.IntN(256)), byte(rng.IntN(256))
			if rng.IntN(4) == 0 {
				b[i] = a[i]
			}
		}
		want := make([]byte, n)
		for i := range n {
			want[i] = max(a[i], b[i])
		}
		maxBytes(a, b)
		if !bytes.Equal(a, want) {
			t.Fatalf("n=%d: got %v, want %v", n, a, want)
		}
		if abuf[n+1] != tail {
			t.Fatalf("n=%d: the byte after dst changed", n)
		}
	}
	// Every pair of byte values, through maxBytes and through the
	// eight-byte code alone (maxBytes gives it only the last few bytes).
	for name, f := range map[string]func(dst, src []byte){"maxBytes": maxBytes, "maxBytesSWAR": maxBytesSWAR} {
		a, b := make([]byte, 65536), make([]byte, 65536)
		for i := range 65536 {
			a[i], b[i] = byte(i), byte(i>>8)
		}
		f(a, b)
		for i := range 65536 {
			if a[i] != max(byte(i), byte(i>>8)) {
				t.Fatalf("%s: max(%d, %d) = %d", name, byte(i), byte(i>>8), a[i])
			}
		}
	}
}

func BenchmarkMaxBytes(b *testing.B) {
	dst, src := make([]byte, 3500), make([]byte, 3500)
	for i := range src {
		src[i] = byte(i * 7)
	}
	b.SetBytes(int64(len(dst)))
	for b.Loop() {
		maxBytes(dst, src)
	}
}

// TestPrepaint: the pixels fully under an opaque stroke are painted before
// the scan is decoded when no pixel is painted twice, and only then.
func TestPrepaint(t *testing.T) {
	if !jpegcoef.Available {
		t.Skip("built without libjpeg: go test -tags libjpeg")
	}
	var buf bytes.Buffer
	jpeg.Encode(&buf, photo(640, 480), &jpeg.Options{Quality: 90})
	m, err := jpegcoef.Open(buf.Bytes(), 1e7)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	bounds := image.Rect(0, 0, 640, 480)
	plan := func(req Request, st Style, o int) *coefEdit {
		blocks, st, err := layoutBlocks("test", req, bounds, st)
		if err != nil {
			t.Fatal(err)
		}
		stamps, _, err := stampsFor(bounds, blocks, st, nil)
		if err != nil {
			t.Fatal(err)
		}
		e := planEdit(m.Info(), o, stamps, st)
		e.prepaint()
		return e
	}
	e := plan(Request{TopText: "TOP", BottomText: "BOTTOM"}, meme, 1)
	n := 0
	for _, p := range e.pre {
		n += len(p)
	}
	if e.pre == nil || n == 0 {
		t.Fatalf("two captions in black and white: %d pixels prepainted", n)
	}
	translucent := meme
	translucent.Stroke = color.NRGBA{0, 0, 0, 128}
	if e := plan(Request{BottomText: "BOTTOM"}, translucent, 1); e.pre != nil {
		t.Error("prepainted under a translucent stroke")
	}
	if e := plan(Request{BottomText: "BOTTOM"}, meme, 6); e.pre != nil {
		t.Error("prepainted a turned picture")
	}
	if len(e.stamps) == 2 {
		e.stamps[1].ring.Rect = e.stamps[0].ring.Rect.Add(image.Pt(3, 3))
		e.pre = nil
		if e.prepaint(); e.pre != nil {
			t.Error("prepainted overlapping stamps")
		}
	} else {
		t.Errorf("%d stamps for a top and a bottom caption", len(e.stamps))
	}
}

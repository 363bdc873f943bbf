package jpegcoef_test

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/filegate/filegate/internal/testtool"
	"github.com/filegate/filegate/jpegcoef"
)

func sample(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x * 7), uint8(y * 5), uint8(x ^ y), 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 80}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestRoundTrip: coefficients read and written back unchanged decode to
// the same pixels, and a block written is the block read back.
func TestRoundTrip(t *testing.T) {
	if !jpegcoef.Available {
		t.Skip("built without libjpeg: go test -tags libjpeg")
	}
	src := sample(t, 67, 45)
	m, err := jpegcoef.Open(src, 1e6)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Rows(0); err != nil {
		t.Fatal(err)
	}
	info := m.Info()
	if info.Width != 67 || info.Height != 45 || len(info.Components) != 3 || info.MaxH != 2 || info.MaxV != 2 || !info.YCbCr {
		t.Fatalf("info %+v", info)
	}
	c := info.Components[0]
	if c.BlocksW != 9 || c.BlocksH != 6 || c.Quant[0] == 0 {
		t.Fatalf("luma %+v", c)
	}
	out, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	a, _ := jpeg.Decode(bytes.NewReader(src))
	b, err := jpeg.Decode(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	// Inside the picture (the padding past its edge is libjpeg's to fill).
	ay, by := a.(*image.YCbCr), b.(*image.YCbCr)
	for y := range 45 {
		if !bytes.Equal(ay.Y[y*ay.YStride:][:67], by.Y[y*by.YStride:][:67]) ||
			!bytes.Equal(ay.Cb[y/2*ay.CStride:][:34], by.Cb[y/2*by.CStride:][:34]) ||
			!bytes.Equal(ay.Cr[y/2*ay.CStride:][:34], by.Cr[y/2*by.CStride:][:34]) {
			t.Fatalf("row %d: unchanged coefficients decode to other pixels", y)
		}
	}
	var blk [64]int16
	blk[0] = 7
	m.WriteBlock(0, 3, 2, &blk)
	got := make([]int16, 64)
	m.ReadBlocks(0, 3, 2, 4, 3, got)
	if got[0] != 7 || got[1] != 0 {
		t.Errorf("block read back %v", got[:4])
	}
	// A region written whole reads back whole, and nothing beside it moves.
	region := make([]int16, 2*3*64)
	for k := range region {
		region[k] = int16(k%64 - 20)
	}
	left := make([]int16, 64)
	m.ReadBlocks(0, 0, 0, 1, 1, left)
	m.WriteBlocks(0, 1, 0, 3, 3, region)
	back := make([]int16, len(region))
	m.ReadBlocks(0, 1, 0, 3, 3, back)
	if !slices.Equal(back, region) {
		t.Errorf("region read back %v…", back[:8])
	}
	after := make([]int16, 64)
	m.ReadBlocks(0, 0, 0, 1, 1, after)
	if !slices.Equal(left, after) {
		t.Error("a block beside the region written changed")
	}
}

func TestLimits(t *testing.T) {
	if !jpegcoef.Available {
		t.Skip("built without libjpeg: go test -tags libjpeg")
	}
	src := sample(t, 100, 100)
	if _, err := jpegcoef.Open(src, 9999); !errors.Is(err, jpegcoef.ErrTooLarge) {
		t.Errorf("100×100 with a limit of 9999 pixels: %v", err)
	}
	for _, cut := range []int{0, 2, 100, len(src) / 2, len(src) - 2} {
		// A cut header is refused by Open, a cut baseline scan by Rows.
		m, err := jpegcoef.Open(src[:cut], 1e6)
		if err == nil {
			err = m.Rows(0)
			m.Close()
		}
		if !errors.Is(err, jpegcoef.ErrCorrupt) {
			t.Errorf("cut at %d: %v, want ErrCorrupt", cut, err)
		}
	}
	// A valid progressive stream of 90 scans (DC, then AC coefficients
	// one at a time): each scan is a pass over the picture, so more than
	// 64 are refused.
	if _, err := jpegcoef.Open(progressive(t, 90), 1e6); !errors.Is(err, jpegcoef.ErrCorrupt) {
		t.Errorf("90 scans: %v, want ErrCorrupt", err)
	}
	if m, err := jpegcoef.Open(progressive(t, 60), 1e6); err != nil {
		t.Errorf("60 scans: %v", err)
	} else {
		m.Close()
	}
}

// progressive encodes a picture with cjpeg and a scan script of n scans:
// the DC of all components, then single AC coefficients, component after
// component.
func progressive(t *testing.T, n int) []byte {
	t.Helper()
	bin := testtool.Find(t, "cjpeg", "apt-get install libjpeg-turbo-progs")
	script := []string{"0,1,2: 0 0 0 0;"}
	for ci := range 3 {
		for k := 1; k <= 63; k++ {
			if len(script) < n {
				script = append(script, fmt.Sprintf("%d: %d %d 0 0;", ci, k, k))
			}
		}
	}
	// A scan script must cover every coefficient: the rest in one scan
	// per component.
	for ci := range 3 {
		done := min(max(n-1-63*ci, 0), 63)
		if done < 63 {
			script = append(script, fmt.Sprintf("%d: %d 63 0 0;", ci, done+1))
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "scans"), []byte(strings.Join(script, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	img := image.NewRGBA(image.Rect(0, 0, 32, 32))
	var ppm bytes.Buffer
	fmt.Fprintf(&ppm, "P6\n32 32\n255\n")
	for i := 0; i < len(img.Pix); i += 4 {
		ppm.Write([]byte{byte(i), byte(i >> 3), byte(i >> 5)})
	}
	in := filepath.Join(dir, "in.ppm")
	if err := os.WriteFile(in, ppm.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-scans", filepath.Join(dir, "scans"), in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("cjpeg: %v: %s", err, stderr.Bytes())
	}
	if got := bytes.Count(out, []byte{0xFF, 0xDA}); got != len(script) {
		t.Fatalf("%d scans written, want %d", got, len(script))
	}
	return out
}

// FuzzOpen feeds libjpeg and the index arbitrary bytes through jpegcoef:
// they must both refuse or both accept them, without crashing; what they
// accept decodes to the same coefficients and encodes to a JPEG libjpeg
// reads back to them.
func FuzzOpen(f *testing.F) {
	if !jpegcoef.Available {
		f.Skip("built without libjpeg: go test -tags libjpeg")
	}
	f.Add(sample(f, 16, 16), uint16(0))
	f.Add(sample(f, 33, 9), uint16(8))
	f.Add(sample(f, 40, 40), uint16(20))
	f.Fuzz(func(t *testing.T, data []byte, y uint16) {
		compareIndexed(t, data, int(y)%64, func(m *jpegcoef.Image) {
			info := m.Info()
			c := info.Components[0]
			if c.BlocksH < 1 || c.BlocksW < 1 {
				return
			}
			var b [64]int16
			m.ReadBlocks(0, 0, c.BlocksH-1, 1, c.BlocksH, b[:])
			b[1] = int16(y % 64)
			m.WriteBlock(0, 0, c.BlocksH-1, &b)
		})
	})
}

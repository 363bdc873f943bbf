package main

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/image/font/gofont/gobold"
)

const benchCaptionText = "ONE DOES NOT SIMPLY CAPTION A PHOTO"

// benchCaption compares captioning a 1920×1080 and a 3840×2160 JPEG
// through filegate (fetch, caption, store: the whole request) with
// ImageMagick's convert -annotate on a local file, with the same font (Go
// Bold) and text size, one size after the other in one run.
func benchCaption(ctx context.Context, o benchOptions, stderr io.Writer) ([]row, error) {
	data, err := os.MkdirTemp("", "filegate-bench-caption-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(data)
	fontPath := filepath.Join(data, "GoBold.ttf")
	if err := os.WriteFile(fontPath, gobold.TTF, 0o600); err != nil {
		return nil, err
	}
	args := []string{"serve", "--listen", "127.0.0.1:0", "--data", filepath.Join(data, "fg"), "--log-level", "error"}
	if o.debugAddr != "" {
		args = append(args, "--debug-addr", o.debugAddr)
	}
	fg, err := startChild(ctx, args...)
	if err != nil {
		return nil, err
	}
	defer fg.stop()
	_, s3c, err := benchStore(filepath.Join(data, "fg"))
	if err != nil {
		return nil, err
	}
	path := "pixels: decode, paint, encode (built without -tags libjpeg)"
	if exe, err := findFilegate(); err == nil && builtWithTag(exe, "libjpeg") {
		path = "JPEG coefficients: only the text's blocks (-tags libjpeg)"
	}
	var rows []row
	for _, size := range []image.Point{{1920, 1080}, {3840, 2160}} {
		name := fmt.Sprintf("caption %d×%d JPEG", size.X, size.Y)
		// A photo-like image: smooth gradients with noise, so JPEG has work.
		img := image.NewRGBA(image.Rectangle{Max: size})
		rng := rand.New(rand.NewPCG(3, 4))
		for y := range size.Y {
			for x := range size.X {
				n := uint8(rng.IntN(24))
				i := img.PixOffset(x, y)
				img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = uint8(x*1920/size.X/8)+n, uint8(y*1080/size.Y/5)+n, uint8((x+y)*1920/size.X/12)+n, 255
			}
		}
		var jb bytes.Buffer
		if err := jpeg.Encode(&jb, img, &jpeg.Options{Quality: 90}); err != nil {
			return nil, err
		}
		in := filepath.Join(data, "in.jpg")
		if err := os.WriteFile(in, jb.Bytes(), 0o600); err != nil {
			return nil, err
		}
		key := fmt.Sprintf("photo-%d.jpg", size.Y)
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("filegate"), Key: aws.String(key), Body: bytes.NewReader(jb.Bytes())}); err != nil {
			return nil, err
		}
		before := currentRSS(fg.cmd.Process.Pid)
		var fgT []float64
		body := fmt.Sprintf(`{"key":%q,"bottom_text":%q}`, key, benchCaptionText)
		for range o.rounds {
			t0 := time.Now()
			if err := postOK(fg, "/v1/captions", body); err != nil {
				return nil, err
			}
			fgT = append(fgT, time.Since(t0).Seconds())
		}
		peak := peakRSS(fg.cmd.Process.Pid)
		fmt.Fprintf(stderr, "bench: %s filegate %v\n", name, fgT)
		rows = append(rows, row{name + ": filegate", fmt.Sprintf("%.0f ms", median(fgT)*1000), "1.00×",
			fmt.Sprintf("fetch+caption+store; %s; %d KiB in; server peak RSS %.0f MiB (%.0f MiB before)", path, jb.Len()>>10, float64(peak)/(1<<20), float64(before)/(1<<20))})
		convert := imageMagick()
		if convert == "" {
			rows = append(rows, row{name + ": ImageMagick", "-", "-", "skipped: no ImageMagick convert binary (apt-get install imagemagick)"})
			continue
		}
		var imT []float64
		var imRSS int64
		pt := size.Y / 10 // filegate's default: a tenth of the height
		for range o.rounds {
			out := filepath.Join(data, "out.jpg")
			cmd := exec.Command(convert, in, "-font", fontPath, "-pointsize", fmt.Sprint(pt), "-fill", "white", "-stroke", "black", "-strokewidth", fmt.Sprint(pt/14),
				"-gravity", "south", "-annotate", fmt.Sprintf("+0+%d", size.Y*3/100), benchCaptionText, "-quality", "90", out)
			t0 := time.Now()
			if msg, err := cmd.CombinedOutput(); err != nil {
				return append(rows, row{name + ": ImageMagick", "-", "-", "failed: " + string(msg)}), nil
			}
			imT = append(imT, time.Since(t0).Seconds())
			if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
				imRSS = max(imRSS, ru.Maxrss*1024)
			}
		}
		fmt.Fprintf(stderr, "bench: %s imagemagick %v\n", name, imT)
		goal := "goal ≥ 3×"
		if size.Y > 1080 {
			goal = "goal ≥ 5×"
		}
		rows = append(rows, row{name + ": ImageMagick convert -annotate", fmt.Sprintf("%.0f ms", median(imT)*1000),
			fmt.Sprintf("%.1f× filegate's time", median(imT)/median(fgT)), fmt.Sprintf("%s; local file, same font; peak RSS %.0f MiB", goal, float64(imRSS)/(1<<20))})
	}
	return rows, nil
}

// builtWithTag reports whether the Go binary at exe was built with the
// build tag (from the build settings Go records in it).
func builtWithTag(exe, tag string) bool {
	bi, err := buildinfo.ReadFile(exe)
	if err != nil {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-tags" && slices.Contains(strings.Split(s.Value, ","), tag) {
			return true
		}
	}
	return false
}

// currentRSS reads a process's resident set (VmRSS) in bytes.
func currentRSS(pid int) int64 { return procStatus(pid, "VmRSS:") }

// imageMagick finds ImageMagick's own convert program: a script of the
// same name earlier on PATH (a wrapper) would add its interpreter's start
// to every run and flatter filegate, so only an executable that is not a
// script counts.
func imageMagick() string {
	var cands []string
	if p, err := exec.LookPath("convert"); err == nil {
		cands = append(cands, p)
	}
	cands = append(cands, "/usr/bin/convert", "/usr/local/bin/convert")
	for _, p := range cands {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		head := make([]byte, 4)
		_, err = io.ReadFull(f, head)
		f.Close()
		if err == nil && string(head) == "\x7fELF" {
			return p
		}
	}
	return ""
}

package plot

import (
	"bytes"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadCSV(t *testing.T) {
	t.Parallel()
	in := "elapsed_ms,latency_ms,endpoint\n0,12.5,inquiry\n1000.5, 3 ,change,extra\n"
	pts, err := ReadCSV(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Point{{0, 12.5, "inquiry"}, {1000.5, 3, "change"}}
	if fmt.Sprint(pts) != fmt.Sprint(want) {
		t.Fatalf("ReadCSV = %v, want %v", pts, want)
	}
	for _, bad := range []string{"0,1\n", "0,x,a\n", "1,2,a\n3,-1,b\n", "1,2,a\nx,2,a\n"} {
		if _, err := ReadCSV(strings.NewReader(bad)); err == nil {
			t.Errorf("ReadCSV(%q) accepted a malformed row", bad)
		}
	}
}

func TestQuantile(t *testing.T) {
	t.Parallel()
	v := make([]float64, 100)
	for i := range v {
		v[i] = float64(i + 1)
	}
	for q, want := range map[float64]float64{0.5: 50, 0.99: 99, 1: 100, 0: 1} {
		if got := Quantile(v, q); got != want {
			t.Errorf("Quantile(1..100, %v) = %v, want %v", q, got, want)
		}
	}
	if Quantile(nil, 0.5) != 0 {
		t.Error("Quantile of nothing is not 0")
	}
}

// The file is a PNG of the asked size, and the p99 line of a slow second is
// drawn (the chart differs from one without it).
func TestLatencyFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("elapsed_ms,latency_ms,endpoint\n")
	for i := range 3000 {
		lat := 2 + float64(i%7)
		if i%20 == 0 {
			lat = 1500 // the delayed share
		}
		ep := "inquiry"
		if i%3 == 0 {
			ep = "change"
		}
		fmt.Fprintf(&b, "%d,%g,%s\n", i*20, lat, ep)
	}
	csvPath := filepath.Join(dir, "lat.csv")
	if err := os.WriteFile(csvPath, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "lat.png")
	o := Options{Title: "test", Width: 800, Height: 400, Marks: []Mark{{AtMS: 20000, Label: "cut"}},
		Limits: []Limit{{MS: 5100, Label: "deadline"}}}
	if err := LatencyFile(csvPath, out, o); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	if s := img.Bounds().Size(); s.X != 800 || s.Y != 400 {
		t.Fatalf("size %v, want 800x400", s)
	}
	if err := LatencyPNG(&bytes.Buffer{}, nil, o); err == nil {
		t.Fatal("an empty chart was drawn")
	}
}

// Command faultbench runs the system under faults, on loopback only, each
// run bounded in time and request count, against a private PostgreSQL
// (initdb into a temporary folder) and a private redis-server that it
// starts, stops and restarts itself — never the machine's shared ones:
//
//	a. KOS-Mock at its 80/15/5 mix with real latencies for 60 s under a
//	   steady load of bill inquiries and product changes: p50/p99, error
//	   rate, breaker transitions, no answer later than the 8 s request
//	   deadline + 100 ms;
//	b. Redis stopped mid-run: no 5xx, revoked tokens stay refused;
//	c. PostgreSQL stopped (immediate) and started mid-run: 503 only while it
//	   is down, then full recovery;
//	d. SIGKILL of the all-in-one during changes (a third forced to end
//	   PENDING) and every change.requested event re-delivered ten times to
//	   the change-worker function: zero lost or doubled changes, counted in
//	   the database.
//
// It writes each request of phase a to a CSV (and, through
// bench/internal/plot, a PNG), prints a markdown report and, with -doc,
// puts it between the <!-- faults:begin --> and <!-- faults:end --> markers
// of docs/benchmarks.md. It exits 1 when a pass criterion fails.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"phonebill/bench/internal/plot"
	"phonebill/shared/testenv"
)

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "faultbench: "+format+"\n", a...)
}

type options struct {
	root, doc, out, png string
	pngStores           string
	mix                 time.Duration
	inqRate, chgRate    float64
}

func main() {
	var o options
	flag.StringVar(&o.root, "root", "", "repository root (default: the directory holding go.work, upwards from here)")
	flag.StringVar(&o.doc, "doc", "", "write the report between the faults markers of this file (e.g. docs/benchmarks.md)")
	flag.StringVar(&o.out, "out", "bin/bench/faults", "folder for binaries, logs and the CSV files")
	flag.StringVar(&o.png, "png", "docs/faults-kos-mix.png", "latency chart of phase a (empty: none)")
	flag.StringVar(&o.pngStores, "png-stores", "docs/faults-redis-postgres.png", "latency chart of phases b and c (empty: none)")
	flag.DurationVar(&o.mix, "mix", 60*time.Second, "length of phase a")
	flag.Float64Var(&o.inqRate, "inquiry-rate", 10, "bill inquiries per second in phase a")
	flag.Float64Var(&o.chgRate, "change-rate", 2, "product changes per second in phase a")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		logf("%v", err)
		os.Exit(1)
	}
}

// findRoot is the repository root above the working directory.
func findRoot() (string, error) {
	root, err := testenv.RepoRoot(".")
	if err != nil {
		return "", fmt.Errorf("%w; use -root", err)
	}
	return root, nil
}

func run(ctx context.Context, o options) error {
	began := time.Now()
	root := o.root
	if root == "" {
		var err error
		if root, err = findRoot(); err != nil {
			return err
		}
	}
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(root, p)
	}
	out := abs(o.out)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	sys, err := startSystem(ctx, root, out)
	if err != nil {
		return err
	}
	defer sys.close()
	k, err := newKit(ctx, sys)
	if err != nil {
		return err
	}
	defer k.pool.Close()
	r := &report{Started: began, Load1: loadAverage()}

	if r.A, err = phaseKOSMix(ctx, k, o.mix, o.inqRate, o.chgRate); err != nil {
		return fmt.Errorf("phase a: %w", err)
	}
	r.ACSV = filepath.Join(out, "kos-mix.csv")
	if err := writeCSV(r.ACSV, r.A.Samples); err != nil {
		return err
	}
	if o.png != "" {
		opts := plot.Options{Title: fmt.Sprintf("Latency under KOS-Mock's 80/15/5 mix (%.0f inquiries/s + %.0f changes/s)",
			o.inqRate, o.chgRate),
			Limits: []plot.Limit{{MS: 8000, Label: "request deadline 8 s"}, {MS: 10000, Label: "client timeout 10 s"}}}
		if err := plot.LatencyFile(r.ACSV, abs(o.png), opts); err != nil {
			return err
		}
		r.PNG = o.png
	}

	if err := storeFaults(ctx, k); err != nil {
		return err
	}
	if r.B, err = phaseRedisStop(ctx, k, 20*time.Second, 6*time.Second, 14*time.Second); err != nil {
		return fmt.Errorf("phase b: %w", err)
	}
	if r.C, err = phasePostgresRestart(ctx, k, 20*time.Second, 6*time.Second, 5*time.Second); err != nil {
		return fmt.Errorf("phase c: %w", err)
	}
	_, r.StoresExit = sys.aio.Stop(30 * time.Second)
	bc := append(append([]sample{}, r.B.Samples...), shift(r.C.Samples, 25*time.Second)...)
	r.BCCSV = filepath.Join(out, "redis-postgres.csv")
	if err := writeCSV(r.BCCSV, bc); err != nil {
		return err
	}
	if o.pngStores != "" {
		opts := plot.Options{Title: "Latency with Redis stopped, then PostgreSQL restarted",
			Marks: []plot.Mark{{AtMS: ms(r.B.StopAt), Label: "Redis stopped"}, {AtMS: ms(r.B.StartAt), Label: "Redis started"},
				{AtMS: ms(25*time.Second + r.C.StopAt), Label: "PostgreSQL stopped"},
				{AtMS: ms(25*time.Second + r.C.UpAt), Label: "PostgreSQL back"}}}
		if err := plot.LatencyFile(r.BCCSV, abs(o.pngStores), opts); err != nil {
			return err
		}
		r.BCPNG = o.pngStores
	}

	if r.D, err = phaseCrash(ctx, k, 30*time.Second, []time.Duration{9 * time.Second, 19 * time.Second}); err != nil {
		return fmt.Errorf("phase d: %w", err)
	}
	r.DCSV = filepath.Join(out, "crash.csv")
	if err := writeCSV(r.DCSV, r.D.Samples); err != nil {
		return err
	}
	r.Took = time.Since(began)
	md := r.markdown(root)
	fmt.Println(md)
	if o.doc != "" {
		if err := writeSection(abs(o.doc), md); err != nil {
			return err
		}
	}
	if failed := r.failures(); len(failed) > 0 {
		return fmt.Errorf("pass criteria failed: %s", strings.Join(failed, "; "))
	}
	return nil
}

func shift(s []sample, by time.Duration) []sample {
	out := make([]sample, len(s))
	for i, x := range s {
		x.At += by
		out[i] = x
	}
	return out
}

// loadAverage is the 1-minute load average (measurements are noisy above
// about 1.5 on this 2-core machine).
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

const beginMarker, endMarker = "<!-- faults:begin -->", "<!-- faults:end -->"

// writeSection replaces what lies between the markers of path (appending
// the markers when the file has none).
func writeSection(path, md string) error {
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	doc := string(b)
	section := beginMarker + "\n" + md + "\n" + endMarker
	i, j := strings.Index(doc, beginMarker), strings.Index(doc, endMarker)
	if i >= 0 && j > i {
		doc = doc[:i] + section + doc[j+len(endMarker):]
	} else {
		doc = strings.TrimRight(doc, "\n") + "\n\n" + section + "\n"
	}
	return os.WriteFile(path, []byte(doc), 0o644)
}

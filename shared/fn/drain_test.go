package fn_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"phonebill/shared/fn"
	"phonebill/shared/httpx"
)

// holder answers /quick after 300 ms and holds /hold until the request is
// cancelled, printing HELD once it has the request (the parent's signal to
// send SIGTERM).
type holder struct{}

func (holder) Quick(w http.ResponseWriter, r *http.Request) error {
	fmt.Println("QUICK")
	select {
	case <-time.After(300 * time.Millisecond):
	case <-r.Context().Done():
		return r.Context().Err()
	}
	httpx.OK(w, r, "quick", nil)
	return nil
}

func (holder) Hold(w http.ResponseWriter, r *http.Request) error {
	fmt.Println("HELD")
	<-r.Context().Done()
	return r.Context().Err()
}

// serveHolding is the child process of TestSIGTERMExitsWithinTheDrain.
func serveHolding() {
	svc := fn.Service{Name: "hold", Style: httpx.StyleStandard, Prefixes: []string{"/api/v1/hold"},
		Start: func(context.Context, *fn.Env) (any, error) { return &holder{}, nil },
		Routes: []fn.Route{
			{Name: "hold-quick", Method: "GET", Path: "/api/v1/hold/quick", Handle: fn.Bind((*holder).Quick)},
			{Name: "hold-forever", Method: "GET", Path: "/api/v1/hold/forever", Handle: fn.Bind((*holder).Hold)},
		}}
	err := fn.Run(signalCtx(), []fn.Service{svc}, fn.Options{Ready: func(a net.Addr) { fmt.Println("ADDR", a.String()) }})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// StopMarginSeconds is what the process may take after its drain (Stop
// hooks, pools closed, exit); knative/gen.StopMarginSeconds budgets the same
// second, so the generated SHUTDOWN_TIMEOUT_SECONDS plus this stays inside
// the window kubelet leaves after SIGTERM.
const StopMarginSeconds = 1

// SIGTERM with the drain the manifests give an HTTP function (1 s): a
// request that ends inside the drain is answered, one that would outlast it
// is cut, and the process exits 0 no sooner than the drain and within the
// drain plus the stop margin — before kubelet's SIGKILL.
func TestSIGTERMExitsWithinTheDrain(t *testing.T) {
	t.Parallel()
	const drain = 1
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	// GORACE: under -race the runtime sleeps 1 s at exit (atexit_sleep_ms) to
	// let goroutines report; a function image is not built with -race.
	cmd.Env = append(os.Environ(), "FN_TEST_SERVE=hold", "LISTEN_ADDRESS=127.0.0.1:0", "LOG_LEVEL=error",
		fmt.Sprintf("SHUTDOWN_TIMEOUT_SECONDS=%d", drain), "GORACE=atexit_sleep_ms=0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	lines := make(chan string, 16)
	exited := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		exited <- cmd.Wait()
	}()
	next := func(prefix string) string {
		t.Helper()
		timeout := time.After(20 * time.Second)
		for {
			select {
			case l := <-lines:
				if rest, ok := strings.CutPrefix(l, prefix); ok {
					return strings.TrimSpace(rest)
				}
			case <-timeout:
				t.Fatalf("the function never printed %s", prefix)
			}
		}
	}
	addr := next("ADDR ")
	type answer struct {
		status int
		err    error
	}
	call := func(path string) chan answer {
		c := make(chan answer, 1)
		go func() {
			res, err := http.Get("http://" + addr + path)
			if err != nil {
				c <- answer{err: err}
				return
			}
			res.Body.Close()
			c <- answer{status: res.StatusCode}
		}()
		return c
	}
	held := call("/api/v1/hold/forever")
	next("HELD")
	quick := call("/api/v1/hold/quick")
	next("QUICK")
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if a := <-quick; a.err != nil || a.status != 200 {
		t.Errorf("request ending inside the drain: %d %v, want 200", a.status, a.err)
	}
	select {
	case err := <-exited:
		took := time.Since(start)
		if err != nil {
			t.Errorf("exit: %v, want status 0", err)
		}
		if took < drain*time.Second || took > (drain+StopMarginSeconds)*time.Second {
			t.Errorf("exited %v after SIGTERM, want between the %d s drain and %d s", took, drain, drain+StopMarginSeconds)
		}
		t.Logf("exited %v after SIGTERM with a %d s drain", took.Round(time.Millisecond), drain)
	case <-time.After(10 * time.Second):
		t.Fatal("no exit 10 s after SIGTERM")
	}
	if a := <-held; a.err == nil && a.status == 200 {
		t.Error("the request outlasting the drain was answered 200")
	}
}

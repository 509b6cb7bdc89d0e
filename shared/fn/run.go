package fn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	_ "time/tzdata" // scratch images have no zoneinfo; Asia/Seoul must resolve
)

// Options tune Run beyond the route table.
type Options struct {
	// Only serves a single route (or one-function service) by name.
	Only string
	// BeforeServe runs after Start and before listening (the all-in-one
	// migrates there when MIGRATE_ON_START is set).
	BeforeServe func(ctx context.Context, env *Env) error
	// LocalEvents delivers events in-process (the all-in-one): producers post
	// to a broker that dispatches to the event routes with the Triggers'
	// filters, retries and dead letters, and scheduled routes run on a ticker.
	LocalEvents bool
	// Ready, if set, receives the bound address once listening (tests).
	Ready func(addr net.Addr)
}

// Main serves one function: the route (or one-function service) named name.
// It exits 1 on a start error and 0 after a graceful stop.
func Main(svc Service, name string) {
	exit(Run(signalContext(), []Service{svc}, Options{Only: name}))
}

// MainAll serves every route of every service in one process.
func MainAll(opts Options, services ...Service) {
	exit(Run(signalContext(), services, opts))
}

func exit(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "fatal:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func signalContext() context.Context {
	ctx, _ := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	return ctx
}

// Run starts the services, serves until ctx is done, then stops accepting,
// finishes in-flight requests (bounded by SHUTDOWN_TIMEOUT_SECONDS), stops the
// services and closes the pools.
func Run(ctx context.Context, services []Service, opts Options) error {
	env, err := NewEnv(nil)
	if err != nil {
		return err
	}
	defer env.Close()
	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var broker *Broker
	if opts.LocalEvents {
		broker = NewBroker(env.Log)
		env.EventSink = BrokerURL
		env.EventClient = broker.Client()
		env.ScheduleEvery = broker.Interval
	}
	app, err := Build(startCtx, env, services, opts.Only)
	if err != nil {
		return err
	}
	if opts.BeforeServe != nil {
		if err := opts.BeforeServe(startCtx, env); err != nil {
			return err
		}
	}
	if broker != nil {
		broker.Subscribe(app.Events)
	}
	return Serve(ctx, env, app, broker, opts.Ready)
}

// Serve listens on the configured addresses until ctx is done.
func Serve(ctx context.Context, env *Env, app *App, broker *Broker, ready func(net.Addr)) error {
	hs := env.Settings.HTTP
	addrs := []string{hs.Addr()}
	if hs.ExtraListenAddress != "" {
		addrs = append(addrs, hs.ExtraListenAddress)
	}
	var servers []*http.Server
	errc := make(chan error, len(addrs))
	for _, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			return fmt.Errorf("listen %s: %w", a, err)
		}
		srv := &http.Server{Handler: app.Handler, ReadHeaderTimeout: 5 * time.Second,
			IdleTimeout: 90 * time.Second, ErrorLog: slog.NewLogLogger(env.Log.Handler(), slog.LevelWarn)}
		servers = append(servers, srv)
		go func() { errc <- srv.Serve(ln) }()
		env.Log.Info("listening", "addr", ln.Addr().String())
		if ready != nil {
			ready(ln.Addr())
		}
	}
	stopTicker := func() {}
	if broker != nil {
		stopTicker = broker.StartSchedules(ctx)
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	env.Log.Info("shutting down")
	stopTicker()
	drain, cancel := context.WithTimeout(context.Background(), time.Duration(hs.ShutdownTimeoutSeconds)*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var shutdownErr error
	var mu sync.Mutex
	for _, s := range servers {
		wg.Go(func() {
			if err := s.Shutdown(drain); err != nil {
				mu.Lock()
				shutdownErr = errors.Join(shutdownErr, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if broker != nil {
		broker.Wait(drain)
	}
	app.Stop(drain)
	if shutdownErr != nil {
		env.Log.Warn("shutdown incomplete", "err", shutdownErr.Error())
	}
	return nil
}

// Stop runs the services' Stop hooks.
func (a *App) Stop(ctx context.Context) {
	for _, s := range a.started {
		if s.svc.Stop != nil {
			if err := s.svc.Stop(ctx, s.value); err != nil {
				a.env.Log.Warn("stop", "service", s.svc.Name, "function", s.function, "err", err.Error())
			}
		}
	}
}

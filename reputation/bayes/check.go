package bayes

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mamori-mail/mamori/internal/redisclient"
	"github.com/mamori-mail/mamori/rules/check"
	"gopkg.in/yaml.v3"
)

// Config is the bayes check's section (checks.bayes). The common keys
// enabled, timeout and on_error are the engine's.
type Config struct {
	// Path is the token database. Default: bayes.db in the data
	// directory, where mamori learn writes by default.
	Path string `yaml:"path"`
	// Redis, when set, keeps the tokens in Redis instead (the same form
	// as checks.ratelimit.redis), shared by every Mamori instance and
	// every mamori learn that points at it; Path is then unused.
	Redis *redisclient.Config `yaml:"redis"`
	// MinSpam and MinHam are how many messages of each class must have
	// been learned before the check says anything. Default 200 each.
	MinSpam uint64 `yaml:"min_spam"`
	MinHam  uint64 `yaml:"min_ham"`
	// Bands map the spam probability to symbols: each band applies when
	// the probability is at least min and below max. Default: BAYES_HAM_99
	// [0, 0.01) -3, BAYES_HAM [0.01, 0.1) -1, BAYES_SPAM_50 [0.5, 0.9) 1,
	// BAYES_SPAM [0.9, 0.99) 2, BAYES_SPAM_99 [0.99, 0.999) 3,
	// BAYES_SPAM_999 [0.999, 1] 3.5: below the add_header threshold, so
	// that the classifier alone never flags a message (the default rule
	// set's tuned scores override these, within the same rule).
	Bands []BandConfig `yaml:"bands"`
}

// BandConfig is one probability band.
type BandConfig struct {
	Min    float64 `yaml:"min"`
	Max    float64 `yaml:"max"`
	Symbol string  `yaml:"symbol"`
	Score  float64 `yaml:"score"`
}

// DefaultBands are the bands when the configuration sets none.
// Narrow bands near certainty give the score tuning something to weigh:
// on the development corpus a probability of 0.5 already separates 98%
// of spam from all but 0.2% of ham, and 0.999 none of the ham at all.
var DefaultBands = []BandConfig{
	{0, 0.01, "BAYES_HAM_99", -3},
	{0.01, 0.1, "BAYES_HAM", -1},
	{0.5, 0.9, "BAYES_SPAM_50", 1},
	{0.9, 0.99, "BAYES_SPAM", 2},
	{0.99, 0.999, "BAYES_SPAM_99", 3},
	{0.999, 1.0000001, "BAYES_SPAM_999", 3.5},
}

// DefaultFile is the token database's name in the data directory.
const DefaultFile = "bayes.db"

// readTimeout bounds the wait for a learner's batch to finish before a
// classification gives up (and the check's on_error applies).
const readTimeout = 300 * time.Millisecond

// ParseConfig decodes a checks.bayes section (nil: the defaults) and
// returns it with every problem, each with its line. dataDir resolves
// the default path. mamori learn uses it to find the database the daemon
// reads.
func ParseConfig(node *yaml.Node, dataDir string) (Config, error) {
	var cfg Config
	if err := check.DecodeStrict(node, &cfg, "checks.bayes"); err != nil {
		return cfg, err
	}
	if cfg.Path == "" {
		cfg.Path = filepath.Join(dataDir, DefaultFile)
	}
	if cfg.Bands == nil {
		cfg.Bands = DefaultBands
	}
	var errs []error
	if cfg.Redis != nil {
		errs = append(errs, cfg.Redis.Validate(check.Field(node, "redis"), "checks.bayes.redis"))
	}
	bnode := check.Field(node, "bands")
	for i, b := range cfg.Bands {
		path := fmt.Sprintf("checks.bayes.bands[%d]", i)
		n := check.Item(bnode, i)
		switch {
		case b.Symbol == "" || strings.ToUpper(b.Symbol) != b.Symbol || strings.ContainsAny(b.Symbol, " -."):
			errs = append(errs, check.Errorf(check.Field(n, "symbol"), path+".symbol", "%q: a symbol is upper-case letters, digits and _", b.Symbol))
		case b.Min < 0 || b.Max > 1.0000001 || b.Min >= b.Max:
			errs = append(errs, check.Errorf(n, path, "min %v and max %v: want 0 <= min < max <= 1", b.Min, b.Max))
		}
	}
	return cfg, errors.Join(errs...)
}

func init() {
	var syms []string
	for _, b := range DefaultBands {
		syms = append(syms, b.Symbol)
	}
	check.Register(check.Registration{Name: "bayes", Factory: factory, DefaultOn: true, FailurePolicy: check.FailContinue, Symbols: syms})
}

// Where names the database for messages: its path, or the Redis servers.
func (c Config) Where() string {
	if c.Redis != nil {
		return "redis " + strings.Join(c.Redis.Addrs, ",")
	}
	return c.Path
}

// OpenRedis returns the Redis store of a configuration with a redis
// section. It does no I/O; the caller closes it.
func (c Config) OpenRedis() (*Redis, error) {
	client, err := redisclient.New(c.Redis)
	if err != nil {
		return nil, err
	}
	return NewRedis(client, c.Redis.Prefix()), nil
}

// Checker is the classifier check.
type Checker struct {
	cfg Config
	tz  Tokenizer
	log *slog.Logger
	// redis is the shared store when the configuration names Redis; nil
	// for the bolt file, which is opened for each message.
	redis *Redis
	// touch writes the LastSeen of the tokens scored with; nil when the
	// pipeline is read-only (mamori check).
	touch *toucher
	// fileMu lets the check's own readers (shared) and its last-seen
	// writes (exclusive) take turns on the bolt file in the process,
	// handing over at once where bbolt's file lock is polled every 50 ms.
	fileMu sync.RWMutex
}

var _ check.Check = (*Checker)(nil)

func factory(node *yaml.Node, env check.Env) (check.Check, error) {
	cfg, err := ParseConfig(node, env.DataDir)
	if err != nil {
		return nil, err
	}
	sort.SliceStable(cfg.Bands, func(i, j int) bool { return cfg.Bands[i].Min < cfg.Bands[j].Min })
	log := env.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Checker{cfg: cfg, tz: Tokenizer{Content: env.Content}, log: log}
	if cfg.Redis != nil {
		if c.redis, err = cfg.OpenRedis(); err != nil {
			return nil, check.Errorf(check.Field(node, "redis"), "checks.bayes.redis", "%v", err)
		}
	}
	if !env.ReadOnly {
		c.touch = newToucher(c.openForTouch, log)
		c.touch.start(touchEvery)
	}
	return c, nil
}

// openForTouch returns the store the toucher writes to: the shared Redis
// store (its Close is a no-op wrapper), or the bbolt file opened for
// writing, waiting at most touchLock for a learner to let go of it.
func (c *Checker) openForTouch() (Store, error) {
	if c.redis != nil {
		return unclosed{c.redis}, nil
	}
	c.fileMu.Lock()
	// An operator who removed the database to start afresh gets no empty
	// one back.
	b, err := OpenBolt(c.cfg.Path, BoltOptions{Timeout: touchLock, MustExist: true})
	if err != nil {
		c.fileMu.Unlock()
		return nil, err
	}
	return unlocking{b, c.fileMu.Unlock}, nil
}

// unlocking lets the check's readers in again once the write is closed.
type unlocking struct {
	Store
	unlock func()
}

func (u unlocking) Close() error {
	err := u.Store.Close()
	u.unlock()
	return err
}

// unclosed keeps the toucher from closing the check's shared Redis store.
type unclosed struct{ Store }

func (unclosed) Close() error { return nil }

// Name implements check.Check.
func (c *Checker) Name() string { return "bayes" }

// Stages implements check.Check.
func (c *Checker) Stages() check.StageMask { return check.Stages(check.EOM) }

// Close implements check.Check. It writes the pending last-seen times
// first, for at most a few seconds.
func (c *Checker) Close() error {
	if c.touch != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c.touch.close(ctx)
		cancel()
	}
	if c.redis != nil {
		return c.redis.Close()
	}
	return nil
}

// Run implements check.Check. The database is opened read-only for each
// message and closed again: a learner (another process) gets the file
// between classifications. A database that does not exist yet means
// nothing was learned: the check is silent.
func (c *Checker) Run(ctx context.Context, m *check.Message, _ check.Stage) (check.Result, error) {
	var res check.Result
	if c.redis == nil {
		// Nothing learned yet: not worth tokenizing the message.
		if _, err := os.Stat(c.cfg.Path); errors.Is(err, fs.ErrNotExist) {
			results.WithLabelValues("untrained").Inc()
			return res, nil
		}
	}
	// Tokenize before opening the file, so that its lock is held only for
	// the lookups.
	toks, err := c.tz.Tokenize(ctx, m)
	if err != nil {
		return res, err
	}
	var st Store = c.redis
	if c.redis == nil {
		c.fileMu.RLock()
		defer c.fileMu.RUnlock()
		b, err := OpenBolt(c.cfg.Path, BoltOptions{ReadOnly: true, Timeout: readTimeout})
		if errors.Is(err, fs.ErrNotExist) {
			results.WithLabelValues("untrained").Inc()
			return res, nil
		}
		if err != nil {
			return res, err
		}
		defer b.Close()
		st = b
	}
	cl, err := New(st, Options{MinSpam: c.cfg.MinSpam, MinHam: c.cfg.MinHam, Tokenizer: c.tz})
	if err != nil {
		return res, err
	}
	r, ok, err := cl.Classify(ctx, toks)
	if err != nil {
		return res, err
	}
	if !ok {
		results.WithLabelValues("untrained").Inc()
		return res, nil
	}
	if c.touch != nil {
		c.touch.add(r.Hashes)
	}
	for _, b := range c.cfg.Bands {
		if r.Prob >= b.Min && r.Prob < b.Max {
			results.WithLabelValues("band").Inc()
			res.Add(b.Symbol, b.Score, fmt.Sprintf("probability %.4f from %d clues (%d spam, %d ham learned)", round4(r.Prob), len(r.Clues), r.Totals.Spam, r.Totals.Ham))
			return res, nil
		}
	}
	results.WithLabelValues("unsure").Inc()
	return res, nil
}

func round4(f float64) float64 { return math.Round(f*1e4) / 1e4 }

// Symbols implements check.SymbolLister: the configured bands' symbols.
func (c *Checker) Symbols() []string {
	var out []string
	for _, b := range c.cfg.Bands {
		out = append(out, b.Symbol)
	}
	return out
}

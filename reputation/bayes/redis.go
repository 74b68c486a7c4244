package bayes

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a Store in Redis, shared by several Mamori instances. Every
// change runs in a Lua script, so two instances learning at once keep each
// message's counts, its record and the totals consistent; Get reads in one
// MULTI/EXEC round trip, so it sees one instant.
//
// Keys, all under prefix + "{bayes}:" (one hash tag: every key lives in
// one Redis Cluster slot, so the scripts may touch them all):
//
//	n          hash: spam, ham (totals), tokens, learned (sizes), version
//	t:<hex>    hash per token Hash (16 hex digits): s (spam count),
//	           h (ham count), t (last seen, Unix s)
//	l:<hex>    hash per learned message Hash: c (class: 1 ham, 2 spam),
//	           t (learned at, Unix s)
type Redis struct {
	client redis.UniversalClient
	base   string // prefix + "{bayes}:"
	closed atomic.Bool
}

var _ Store = (*Redis)(nil)

// redisFormat is the version field of the n hash; see boltFormat.
const redisFormat = "1"

const (
	// redisChunkKeys bounds the keys one script call gets, so that a bulk
	// Learn or Touch does not block Redis for long (a review measured
	// about 350 ms for 20,000, so some 90 ms here); each message stays in
	// one call.
	redisChunkKeys = 5_000
	// redisScanCount is the COUNT hint of each SCAN page of Expire.
	redisScanCount = 1000
	// redisFormatTag starts the error a script returns for a database of
	// another format.
	redisFormatTag = "BAYESFORMAT"
)

// NewRedis returns a store on client with its keys under prefix (e.g.
// "mamori:"). It does no I/O. It owns the client: Close closes it.
func NewRedis(client redis.UniversalClient, prefix string) *Redis {
	return &Redis{client: client, base: prefix + "{bayes}:"}
}

// learnScript applies a batch of Learnings.
// KEYS: n, then for each message its record key followed by its token keys.
// ARGV: now, format, then for each message its class and token count.
// It returns 1 or 0 for each message: whether it changed anything.
var learnScript = redis.NewScript(`
local n = KEYS[1]
local v = redis.call('HGET', n, 'version')
if v and v ~= ARGV[2] then
  return redis.error_reply('` + redisFormatTag + ` database version ' .. v)
end
if not v then redis.call('HSET', n, 'version', ARGV[2]) end
local now = tonumber(ARGV[1])
local function num(x) return tonumber(x or '0') or 0 end
local function str(x) return string.format('%d', x) end
local function dec(field)
  if num(redis.call('HGET', n, field)) > 0 then redis.call('HINCRBY', n, field, -1) end
end
local function add(first, last, cl, d)
  local total, f = 'ham', 'h'
  if cl == 2 then total, f = 'spam', 's' end
  if d > 0 then redis.call('HINCRBY', n, total, 1) else dec(total) end
  for i = first, last do
    local k = KEYS[i]
    local c = redis.call('HMGET', k, 's', 'h', 't')
    local exists = c[1] or c[2] or c[3]
    if exists or d > 0 then
      local cnt = {s = num(c[1]), h = num(c[2])}
      local seen = c[3] or '0'
      if d > 0 then
        if cnt[f] < 4294967295 then cnt[f] = cnt[f] + 1 end
        if now > num(seen) then seen = ARGV[1] end
      elseif cnt[f] > 0 then
        cnt[f] = cnt[f] - 1
      end
      if cnt.s == 0 and cnt.h == 0 then
        if exists then
          redis.call('DEL', k)
          dec('tokens')
        end
      else
        redis.call('HSET', k, 's', str(cnt.s), 'h', str(cnt.h), 't', seen)
        if not exists then redis.call('HINCRBY', n, 'tokens', 1) end
      end
    end
  end
end
local out = {}
local ki, ai = 2, 3
while ai < #ARGV do
  local cl, nt = tonumber(ARGV[ai]), tonumber(ARGV[ai + 1])
  ai = ai + 2
  local lk, first, last = KEYS[ki], ki + 1, ki + nt
  ki = last + 1
  local prev = num(redis.call('HGET', lk, 'c'))
  if prev == cl then
    out[#out + 1] = 0
  else
    out[#out + 1] = 1
    if prev == 1 or prev == 2 then add(first, last, prev, -1) end
    if cl ~= 0 then
      add(first, last, cl, 1)
      if redis.call('EXISTS', lk) == 0 then redis.call('HINCRBY', n, 'learned', 1) end
      redis.call('HSET', lk, 'c', str(cl), 't', ARGV[1])
    elseif redis.call('DEL', lk) == 1 then
      dec('learned')
    end
  end
end
return out
`)

// touchScript moves the last seen of existing tokens (KEYS) to ARGV[1] if
// later.
var touchScript = redis.NewScript(`
local now = tonumber(ARGV[1])
for i = 1, #KEYS do
  local t = redis.call('HGET', KEYS[i], 't')
  if t and now > (tonumber(t) or 0) then redis.call('HSET', KEYS[i], 't', ARGV[1]) end
end
return 0
`)

// expireScript deletes those of KEYS[2:] (tokens or learned records) whose
// t is before ARGV[2] and, for ARGV[3] > 0, whose s+h is at most ARGV[3];
// it takes their number off field ARGV[1] of KEYS[1] (n) and returns it.
// Keys are checked here, not by the caller, so that a token learned again
// since the SCAN is kept.
var expireScript = redis.NewScript(`
local before, maxc = tonumber(ARGV[2]), tonumber(ARGV[3])
local removed = 0
for i = 2, #KEYS do
  local c = redis.call('HMGET', KEYS[i], 's', 'h', 't')
  if c[3] and (tonumber(c[3]) or 0) < before and
      (maxc == 0 or (tonumber(c[1] or '0') or 0) + (tonumber(c[2] or '0') or 0) <= maxc) then
    redis.call('DEL', KEYS[i])
    removed = removed + 1
  end
end
if removed > 0 then
  local left = (tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0') or 0) - removed
  if left < 0 then left = 0 end
  redis.call('HSET', KEYS[1], ARGV[1], string.format('%d', left))
end
return removed
`)

// Backend implements Store.
func (s *Redis) Backend() string { return "redis" }

// Close implements Store; it closes the client.
func (s *Redis) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	if err := s.client.Close(); err != nil && !errors.Is(err, redis.ErrClosed) {
		return fmt.Errorf("bayes: redis: %w", err)
	}
	return nil
}

// ready returns the error a call must fail with before any I/O.
func (s *Redis) ready(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return ErrClosed
	}
	return nil
}

// wrap maps go-redis's errors to ours.
func (s *Redis) wrap(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded), errors.Is(err, ErrFormat):
		return err
	case errors.Is(err, redis.ErrClosed):
		return ErrClosed
	case strings.Contains(err.Error(), redisFormatTag):
		return fmt.Errorf("%w: redis %s: %v", ErrFormat, s.base, err)
	}
	return fmt.Errorf("bayes: redis: %w", err)
}

// key returns the key of kind ('t' or 'l') for h.
func (s *Redis) key(kind byte, h Hash) string {
	var raw [8]byte
	binary.BigEndian.PutUint64(raw[:], uint64(h))
	var b strings.Builder
	b.Grow(len(s.base) + 2 + 16)
	b.WriteString(s.base)
	b.WriteByte(kind)
	b.WriteByte(':')
	var hx [16]byte
	hex.Encode(hx[:], raw[:])
	b.Write(hx[:])
	return b.String()
}

func (s *Redis) totalsKey() string { return s.base + "n" }

// Get implements Store, in one MULTI/EXEC.
func (s *Redis) Get(ctx context.Context, tokens []Hash) (Totals, []Counts, error) {
	if err := s.ready(ctx); err != nil {
		return Totals{}, nil, err
	}
	pipe := s.client.TxPipeline()
	tot := pipe.HMGet(ctx, s.totalsKey(), "spam", "ham", "version")
	cmds := make([]*redis.SliceCmd, len(tokens))
	for i, h := range tokens {
		cmds[i] = pipe.HMGet(ctx, s.key('t', h), "s", "h", "t")
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return Totals{}, nil, s.wrap(err)
	}
	v := tot.Val()
	if err := s.checkVersion(v[2]); err != nil {
		return Totals{}, nil, err
	}
	var t Totals
	var err error
	if t.Spam, err = parseField(v[0], 64); err != nil {
		return Totals{}, nil, err
	}
	if t.Ham, err = parseField(v[1], 64); err != nil {
		return Totals{}, nil, err
	}
	out := make([]Counts, len(tokens))
	for i, c := range cmds {
		if out[i], err = parseCounts(c.Val()); err != nil {
			return Totals{}, nil, err
		}
	}
	return t, out, nil
}

func (s *Redis) checkVersion(v any) error {
	if v == nil || v == redisFormat {
		return nil
	}
	return fmt.Errorf("%w: redis %s has version %v, want %s", ErrFormat, s.base, v, redisFormat)
}

// parseField parses an HMGET value: nil is 0.
func parseField(v any, bits int) (uint64, error) {
	if v == nil {
		return 0, nil
	}
	str, _ := v.(string)
	n, err := strconv.ParseUint(str, 10, bits)
	if err != nil {
		return 0, fmt.Errorf("%w: redis value %q", ErrFormat, str)
	}
	return n, nil
}

func parseCounts(v []any) (Counts, error) {
	if len(v) != 3 || v[2] == nil {
		return Counts{}, nil
	}
	spam, err := parseField(v[0], 32)
	if err != nil {
		return Counts{}, err
	}
	ham, err := parseField(v[1], 32)
	if err != nil {
		return Counts{}, err
	}
	str, _ := v[2].(string)
	seen, err := strconv.ParseInt(str, 10, 64)
	if err != nil {
		return Counts{}, fmt.Errorf("%w: redis value %q", ErrFormat, str)
	}
	return Counts{Spam: uint32(spam), Ham: uint32(ham), LastSeen: seen}, nil
}

// Learn implements Store: one script call per chunk of messages (all of
// them unless the batch passes redisChunkKeys keys). Each message is
// atomic; if a later chunk fails, the earlier ones stay applied.
func (s *Redis) Learn(ctx context.Context, now time.Time, batch []Learning) ([]bool, error) {
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	if err := validateBatch(batch); err != nil {
		return nil, err
	}
	nowArg := strconv.FormatInt(now.Unix(), 10)
	changed := make([]bool, 0, len(batch))
	for start := 0; start < len(batch); {
		end, nkeys := start, 1
		for end < len(batch) && (end == start || nkeys+1+len(batch[end].Tokens) <= redisChunkKeys) {
			nkeys += 1 + len(batch[end].Tokens)
			end++
		}
		keys := make([]string, 1, nkeys)
		keys[0] = s.totalsKey()
		args := make([]any, 2, 2+2*(end-start))
		args[0], args[1] = nowArg, redisFormat
		for _, l := range batch[start:end] {
			keys = append(keys, s.key('l', l.ID))
			for _, h := range l.Tokens {
				keys = append(keys, s.key('t', h))
			}
			args = append(args, int(l.Class), len(l.Tokens))
		}
		res, err := learnScript.Run(ctx, s.client, keys, args...).Int64Slice()
		if err != nil {
			return nil, s.wrap(err)
		}
		if len(res) != end-start {
			return nil, fmt.Errorf("bayes: redis: learn script answered %d values for %d messages", len(res), end-start)
		}
		for _, r := range res {
			changed = append(changed, r == 1)
		}
		start = end
	}
	return changed, nil
}

// Learned implements Store.
func (s *Redis) Learned(ctx context.Context, id Hash) (Class, error) {
	if err := s.ready(ctx); err != nil {
		return None, err
	}
	v, err := s.client.HGet(ctx, s.key('l', id), "c").Result()
	if errors.Is(err, redis.Nil) {
		return None, nil
	}
	if err != nil {
		return None, s.wrap(err)
	}
	switch v {
	case "1":
		return Ham, nil
	case "2":
		return Spam, nil
	}
	return None, fmt.Errorf("%w: redis learned class %q", ErrFormat, v)
}

// Touch implements Store, in one script call per redisChunkKeys tokens.
func (s *Redis) Touch(ctx context.Context, now time.Time, tokens []Hash) error {
	if err := s.ready(ctx); err != nil {
		return err
	}
	nowArg := strconv.FormatInt(now.Unix(), 10)
	for len(tokens) > 0 {
		n := min(len(tokens), redisChunkKeys)
		keys := make([]string, n)
		for i, h := range tokens[:n] {
			keys[i] = s.key('t', h)
		}
		if err := touchScript.Run(ctx, s.client, keys, nowArg).Err(); err != nil {
			return s.wrap(err)
		}
		tokens = tokens[n:]
	}
	return nil
}

// Expire implements Store. It walks the token keys, then the learned
// records, with SCAN, and removes what each page holds in one script call,
// checking ctx between pages; what earlier pages removed stays removed
// when ctx ends the walk. On Redis Cluster it scans every master (all keys
// live on the one holding the hash tag's slot).
func (s *Redis) Expire(ctx context.Context, o ExpireOptions) (ExpireResult, error) {
	var r ExpireResult
	if err := s.ready(ctx); err != nil {
		return r, err
	}
	if !o.Before.IsZero() {
		n, err := s.expireKeys(ctx, 't', "tokens", o.Before.Unix(), o.MaxCount)
		r.Tokens = n
		if err != nil {
			return r, err
		}
	}
	if !o.LearnedBefore.IsZero() {
		n, err := s.expireKeys(ctx, 'l', "learned", o.LearnedBefore.Unix(), 0)
		r.Learned = n
		if err != nil {
			return r, err
		}
	}
	return r, nil
}

func (s *Redis) expireKeys(ctx context.Context, kind byte, counter string, before int64, maxCount uint32) (uint64, error) {
	pattern := globEscape(s.base) + string(kind) + ":*"
	var removed atomic.Uint64
	scan := func(ctx context.Context, node redis.UniversalClient) error {
		var cursor uint64
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			keys, next, err := node.Scan(ctx, cursor, pattern, redisScanCount).Result()
			if err != nil {
				return err
			}
			if len(keys) > 0 {
				keys = append([]string{s.totalsKey()}, keys...)
				// Through s.client, which routes the keys to their slot.
				n, err := expireScript.Run(ctx, s.client, keys, counter, before, maxCount).Uint64()
				if err != nil {
					return err
				}
				removed.Add(n)
			}
			if next == 0 {
				return nil
			}
			cursor = next
		}
	}
	var err error
	if cc, ok := s.client.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error { return scan(ctx, node) })
	} else {
		err = scan(ctx, s.client)
	}
	return removed.Load(), s.wrap(err)
}

// globEscape quotes the characters SCAN MATCH treats as pattern syntax.
func globEscape(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		switch c {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	return b.String()
}

// Stats implements Store.
func (s *Redis) Stats(ctx context.Context) (Stats, error) {
	if err := s.ready(ctx); err != nil {
		return Stats{}, err
	}
	v, err := s.client.HMGet(ctx, s.totalsKey(), "spam", "ham", "tokens", "learned", "version").Result()
	if err != nil {
		return Stats{}, s.wrap(err)
	}
	if err := s.checkVersion(v[4]); err != nil {
		return Stats{}, err
	}
	var st Stats
	for i, dst := range []*uint64{&st.Spam, &st.Ham, &st.Tokens, &st.Learned} {
		if *dst, err = parseField(v[i], 64); err != nil {
			return Stats{}, err
		}
	}
	return st, nil
}

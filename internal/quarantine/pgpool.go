package quarantine

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgPool is a minimal connection pool for pgx.Conn.
//
// Why not pgxpool: it needs github.com/jackc/puddle/v2, which go.mod does
// not carry, and the quarantine needs little of it: a bound on connections,
// reuse, and dropping broken ones. Swapping pgxpool in later touches this
// file and Postgres.with only.
type pgPool struct {
	cfg   *pgx.ConnConfig
	slots chan struct{} // one token per open or opening connection in use

	mu     sync.Mutex
	idle   []pgIdle
	closed bool
}

type pgIdle struct {
	c     *pgx.Conn
	since time.Time
}

// pgMaxConns bounds one instance's connections: the quarantine is a side
// path (one Put per quarantined message, admin queries), and PostgreSQL's
// max_connections is shared by every instance.
const pgMaxConns = 8

// pgIdleCheck is how long a connection may sit idle before it is pinged
// before use: a server restart or a firewall's idle timeout kills idle
// connections silently, and the first query on one would fail.
const pgIdleCheck = 30 * time.Second

var errPoolClosed = errors.New("quarantine: store is closed")

func newPgPool(cfg *pgx.ConnConfig) *pgPool {
	return &pgPool{cfg: cfg, slots: make(chan struct{}, pgMaxConns)}
}

// acquire returns an idle connection, or a new one, waiting for a free
// slot until ctx is done.
func (p *pgPool) acquire(ctx context.Context) (*pgx.Conn, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			<-p.slots
			return nil, errPoolClosed
		}
		if len(p.idle) == 0 {
			p.mu.Unlock()
			break
		}
		ic := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		p.mu.Unlock()
		if time.Since(ic.since) < pgIdleCheck || ic.c.Ping(ctx) == nil {
			return ic.c, nil
		}
		closeConn(ic.c)
	}
	c, err := pgx.ConnectConfig(ctx, p.cfg)
	if err != nil {
		<-p.slots
		return nil, err
	}
	return c, nil
}

// release gives c back; a connection that is closed, or left inside a
// transaction or a query by an error path, is closed instead of reused.
func (p *pgPool) release(c *pgx.Conn) {
	defer func() { <-p.slots }()
	if c.IsClosed() || c.PgConn().IsBusy() || c.PgConn().TxStatus() != 'I' {
		closeConn(c)
		return
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		closeConn(c)
		return
	}
	p.idle = append(p.idle, pgIdle{c: c, since: time.Now()})
	p.mu.Unlock()
}

// close closes the idle connections; those in use close on release.
func (p *pgPool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, ic := range idle {
		closeConn(ic.c)
	}
}

func closeConn(c *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c.Close(ctx)
}

package resolver

import (
	"context"
	"net"
	"net/netip"
	"sync/atomic"

	"github.com/mamori-mail/mamori/rules/check"
)

var _ check.DNS = (*Resolver)(nil)

// budget counts the queries one message may still send.
type budget struct{ left atomic.Int64 }

func (b *budget) take() bool { return b.left.Add(-1) >= 0 }

// budgetKey is the message-state key of the budget.
const budgetKey = "resolver.budget"

// ForMessage implements check.DNS: the returned resolver charges m's
// budget (Options.Budget queries per message, cache hits free).
func (r *Resolver) ForMessage(m *check.Message) check.DNS {
	if r.opt.Budget <= 0 || m == nil {
		return r
	}
	b := m.StateOnce(budgetKey, func() any {
		b := &budget{}
		b.left.Store(int64(r.opt.Budget))
		return b
	}).(*budget)
	return &scoped{r: r, b: b}
}

// scoped is a Resolver bound to one message's budget.
type scoped struct {
	r *Resolver
	b *budget
}

func (s *scoped) LookupTXT(ctx context.Context, name string) ([]string, error) {
	return s.r.lookupTXT(ctx, name, s.b)
}

func (s *scoped) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	return s.r.lookupMX(ctx, name, s.b)
}

func (s *scoped) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	return s.r.lookupIPAddr(ctx, host, s.b)
}

func (s *scoped) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	return s.r.lookupAddr(ctx, addr, s.b)
}

func (s *scoped) LookupA(ctx context.Context, name string) ([]netip.Addr, error) {
	return s.r.lookupA(ctx, name, s.b)
}

func (s *scoped) ForMessage(m *check.Message) check.DNS { return s.r.ForMessage(m) }

package milter

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"time"

	gomilter "github.com/d--j/go-milter"
)

// Limits protect the process from any one session.
type Limits struct {
	MaxSessions    int
	MaxMessageSize int64
	SpoolThreshold int64
	SpoolDir       string
	MaxHeaders     int
	MaxHeaderSize  int64
	MaxRecipients  int
	ReadTimeout    time.Duration
}

// Server is a milter server.
type Server struct {
	srv    *gomilter.Server
	limits Limits
	log    *slog.Logger
}

// wantProtocol is what Mamori asks the MTA for. Every "no reply" flag is a
// round trip saved per stage (MTA-NOTES: rspamd-style negotiation nearly
// doubled throughput); only MAIL FROM, RCPT TO and end of message get
// answers. Leading space keeps header bytes exact for DKIM.
const wantProtocol = gomilter.OptNoUnknown | gomilter.OptNoData |
	gomilter.OptNoConnReply | gomilter.OptNoHeloReply | gomilter.OptNoDataReply |
	gomilter.OptNoUnknownReply | gomilter.OptNoEOHReply | gomilter.OptNoHeaderReply |
	gomilter.OptNoBodyReply | gomilter.OptHeaderLeadingSpace

const wantActions = gomilter.OptAddHeader | gomilter.OptChangeHeader | gomilter.OptQuarantine

// Macros Mamori asks for at each stage, so that an operator's trimmed
// milter_*_macros cannot starve it. Postfix sends {i} only from DATA on.
var macroRequests = map[gomilter.MacroStage][]gomilter.MacroName{
	gomilter.StageConnect: {"j", "{daemon_name}", "{daemon_addr}", "{client_addr}", "{client_name}", "v", "_"},
	gomilter.StageHelo:    {"{tls_version}", "{cipher}"},
	gomilter.StageMail:    {"i", "{auth_type}", "{auth_authen}", "{mail_addr}"},
	gomilter.StageRcpt:    {"i", "{rcpt_addr}"},
	gomilter.StageEOH:     {"i"},
	gomilter.StageEOM:     {"i", "{msg_id}"},
}

// macroNames is every macro kept in check.Message.Macros.
var macroNames = func() []string {
	seen := map[string]bool{}
	var out []string
	for _, st := range []gomilter.MacroStage{gomilter.StageConnect, gomilter.StageHelo, gomilter.StageMail, gomilter.StageRcpt, gomilter.StageEOH, gomilter.StageEOM} {
		for _, m := range macroRequests[st] {
			if !seen[m] {
				seen[m] = true
				out = append(out, m)
			}
		}
	}
	return append(out, "{auth_ssf}", "{cert_subject}", "{if_addr}")
}()

// negotiate takes what we want of what the MTA offers, instead of failing
// when an older MTA lacks a flag: without a "no reply" flag we simply reply.
func negotiate(mtaVersion, _ uint32, mtaActions, _ gomilter.OptAction, mtaProtocol, _ gomilter.OptProtocol, offered gomilter.DataSize) (uint32, gomilter.OptAction, gomilter.OptProtocol, gomilter.DataSize, error) {
	if mtaVersion < 2 {
		return 0, 0, 0, 0, errors.New("milter: MTA protocol version too old")
	}
	version := min(mtaVersion, gomilter.MaxServerProtocolVersion)
	actions := wantActions & mtaActions
	if mtaActions&gomilter.OptSetMacros != 0 {
		actions |= gomilter.OptSetMacros
	}
	return version, actions, wantProtocol & mtaProtocol, offered, nil
}

// NewServer returns a server that asks h about every connection.
func NewServer(h Handler, lim Limits, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{limits: lim, log: log}
	opts := []gomilter.Option{
		gomilter.WithDynamicMilter(func(_ uint32, _ gomilter.OptAction, _ gomilter.OptProtocol, _ gomilter.DataSize) gomilter.Milter {
			return newSession(h.NewConnection(), s.limits, s.log)
		}),
		gomilter.WithNegotiationCallback(negotiate),
		gomilter.WithReadTimeout(lim.ReadTimeout),
		gomilter.WithWriteTimeout(30 * time.Second),
	}
	for st, names := range macroRequests {
		opts = append(opts, gomilter.WithMacroRequest(st, names))
	}
	s.srv = gomilter.NewServer(opts...)
	return s
}

// Serve accepts milter connections on ln until Shutdown or Close.
func (s *Server) Serve(ln net.Listener) error {
	max := int64(s.limits.MaxSessions)
	if max <= 0 {
		max = 1 << 30
	}
	err := s.srv.Serve(&listener{Listener: ln, max: max, log: s.log})
	if errors.Is(err, gomilter.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting and waits for open sessions to end (Postfix
// closes a milter connection with its SMTP session) until ctx expires, then
// closes the rest. The MTA retries what was cut off (tempfail).
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

// Close closes everything at once.
func (s *Server) Close() error { return s.srv.Close() }

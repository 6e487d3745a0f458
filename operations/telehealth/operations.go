package telehealth

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/coder/websocket"

	"github.com/fhirserver/fhirserver/operations"
	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/resources"
	"github.com/fhirserver/fhirserver/resources/access"
	"github.com/fhirserver/fhirserver/storage"
)

// The telehealth operations, one value each, run by s; a nil s answers
// 501 to each.

var (
	errDisabled = outcome.E(outcome.NotSupported, "telehealth is not enabled")
	encounter   = []operations.Param{{Name: "return", Use: "out", Min: "1", Max: "1", Type: "Encounter"}}
	videoOut    = []operations.Param{{Name: "token", Use: "out", Min: "1", Max: "1", Type: "string"}, {Name: "provider", Use: "out", Min: "1", Max: "1", Type: "string"},
		{Name: "room", Use: "out", Min: "1", Max: "1", Type: "string"}, {Name: "expires", Use: "out", Min: "1", Max: "1", Type: "instant"}}
)

func keys(id string) []storage.Key { return []storage.Key{{Type: "Encounter", ID: id}} }

// TelehealthOperation is POST Encounter/$telehealth (Create).
func TelehealthOperation(s *Service) *operations.Operation {
	return &operations.Operation{
		Code: "telehealth", Types: []string{"Encounter"}, Levels: operations.Type,
		Input: operations.Body, AffectsState: true, Written: true,
		Doc:    "Makes a telehealth session for an appointment.",
		Who:    "whoever may read the appointment and create the Encounter, as the write path checks it.",
		Params: []operations.Param{{Name: "appointment", Use: "in", Min: "1", Max: "1", Type: "Reference"}, {Name: "sessionType", Use: "in", Min: "1", Max: "1", Type: "code"}, encounter[0]},
		Handler: func(ctx context.Context, r *operations.Request) (resources.Result, error) {
			if s == nil {
				return resources.Result{}, errDisabled
			}
			return s.Create(ctx, r.Caller, r.Body)
		},
	}
}

// JoinOperation is POST Encounter/[id]/$join: to the waiting room.
func JoinOperation(s *Service) *operations.Operation {
	return move(s, "join", "WAITING_ROOM", "The patient enters the waiting room.", "the session's patient, or its practitioner or a backend service with Encounter update.")
}

// StartOperation is POST Encounter/[id]/$start.
func StartOperation(s *Service) *operations.Operation {
	return move(s, "start", "ACTIVE", "The practitioner starts the session.", practitionerMoves)
}

// CompleteOperation is POST Encounter/[id]/$complete.
func CompleteOperation(s *Service) *operations.Operation {
	return move(s, "complete", "COMPLETED", "The session ends, completed.", practitionerMoves)
}

// AbandonOperation is POST Encounter/[id]/$abandon.
func AbandonOperation(s *Service) *operations.Operation {
	return move(s, "abandon", "ABANDONED", "The session ends, abandoned.", "the session's patient, or its practitioner or a backend service with Encounter update.")
}

// NoShowOperation is POST Encounter/[id]/$no-show.
func NoShowOperation(s *Service) *operations.Operation {
	return move(s, "no-show", "NO_SHOW", "The session ends: the patient did not come.", practitionerMoves)
}

const practitionerMoves = "the session's practitioner, or a backend service, with Encounter update (scope and role)."

// move is a lifecycle move of the session to state (Move).
func move(s *Service, code, state, doc, who string) *operations.Operation {
	return &operations.Operation{
		Code: code, Types: []string{"Encounter"}, Levels: operations.Instance,
		AffectsState: true, Written: true, Doc: doc, Who: who, Params: encounter,
		Handler: func(ctx context.Context, r *operations.Request) (resources.Result, error) {
			if s == nil {
				return resources.Result{}, errDisabled
			}
			return s.Move(ctx, r.Caller, r.ID, state)
		},
	}
}

// WaitingRoomOperation is GET Encounter/[id]/$waiting-room: the session's
// place in the waiting room and the estimated wait, as JSON; over a
// WebSocket (authenticated like any request, by its bearer token) a new
// message every time the waiting room changes. Who may watch is the
// session's (Watcher). The WebSocket lives no longer than its token: it
// closes when the token expires, and its token is checked again before
// each message, so that a revoked one hears nothing more.
func WaitingRoomOperation(s *Service) *operations.Operation {
	return &operations.Operation{
		Code: "waiting-room", Types: []string{"Encounter"}, Levels: operations.Instance,
		Methods: operations.Get,
		Doc:     "The session's place in the waiting room and the estimated wait; over a WebSocket, at every change.",
		Who:     "the session's practitioner, its patient, and backend services that read Encounters; the WebSocket closes when the token expires or is revoked.",
		Params: []operations.Param{{Name: "state", Use: "out", Min: "1", Max: "1", Type: "code"}, {Name: "position", Use: "out", Min: "1", Max: "1", Type: "integer"},
			{Name: "estimatedWaitSeconds", Use: "out", Min: "1", Max: "1", Type: "integer"}},
		Handler: func(ctx context.Context, r *operations.Request) (resources.Result, error) {
			if s == nil {
				return resources.Result{}, errDisabled
			}
			practitioner, err := s.Watcher(ctx, r.Caller, r.ID)
			if err != nil {
				return resources.Result{}, err
			}
			p, err := s.Position(ctx, r.ID, practitioner)
			if err != nil {
				return resources.Result{}, err
			}
			b, _ := json.Marshal(p)
			return resources.Result{Status: http.StatusOK, Body: b, Keys: keys(r.ID)}, nil
		},
		Upgrade: func(w http.ResponseWriter, r *http.Request, x *operations.Exchange) error {
			if s == nil {
				return errDisabled
			}
			return s.watch(w, r, x)
		},
	}
}

// watch serves the waiting room's WebSocket.
func (s *Service) watch(w http.ResponseWriter, r *http.Request, x *operations.Exchange) error {
	ctx := r.Context()
	practitioner, err := s.Watcher(ctx, x.Caller, x.ID)
	if err != nil {
		return err
	}
	// The opening is audited like a read; what follows are positions.
	if err := x.Audit(http.StatusSwitchingProtocols, keys(x.ID)); err != nil {
		return err
	}
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		return nil // Accept has answered
	}
	defer conn.CloseNow()
	ctx = conn.CloseRead(context.WithoutCancel(ctx))
	var expired <-chan time.Time
	if !x.Caller.Expires.IsZero() {
		timer := time.NewTimer(time.Until(x.Caller.Expires))
		defer timer.Stop()
		expired = timer.C
	}
	// The request as it was authenticated, kept to check its token again;
	// its own context ended with the upgrade.
	again := r.WithContext(ctx)
	positions, stop := s.Subscribe(ctx, x.ID, practitioner)
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-expired:
			conn.Close(websocket.StatusPolicyViolation, "the access token has expired")
			return nil
		case p := <-positions:
			if err := x.Authenticate(again); err != nil {
				conn.Close(websocket.StatusPolicyViolation, "the access token is no longer valid")
				return nil
			}
			b, _ := json.Marshal(p)
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := conn.Write(wctx, websocket.MessageText, b)
			cancel()
			if err != nil {
				return nil
			}
			if p.State != "WAITING_ROOM" && p.State != "SCHEDULED" {
				conn.Close(websocket.StatusNormalClosure, "the session left the waiting room")
				return nil
			}
		}
	}
}

// ConsentOperation is POST Encounter/[id]/$consent.
func ConsentOperation(s *Service) *operations.Operation {
	return &operations.Operation{
		Code: "consent", Types: []string{"Encounter"}, Levels: operations.Instance,
		Input: operations.Body, AffectsState: true, Written: true,
		Doc: "Records the patient's session consent.",
		Who: "IN_APP_CLICK by the session's patient, VERBAL_CONFIRMED_BY_CLINICIAN by its practitioner.",
		Params: []operations.Param{{Name: "type", Use: "in", Min: "1", Max: "1", Type: "code", Doc: "RECORDING, DATA_PROCESSING, TELEHEALTH_TERMS"}, {Name: "method", Use: "in", Min: "1", Max: "1", Type: "code", Doc: "IN_APP_CLICK, VERBAL_CONFIRMED_BY_CLINICIAN"},
			{Name: "return", Use: "out", Min: "1", Max: "1", Type: "Consent"}},
		Handler: func(ctx context.Context, r *operations.Request) (resources.Result, error) {
			if s == nil {
				return resources.Result{}, errDisabled
			}
			return s.Consent(ctx, r.Caller, r.ID, r.Body, r.RemoteAddr)
		},
	}
}

// VideoTokenOperation is POST Encounter/[id]/$video-token.
func VideoTokenOperation(s *Service) *operations.Operation {
	return video(s, "video-token", "A single-use, short-lived token into the session's video room.", (*Service).VideoToken)
}

// VideoFailoverOperation is POST Encounter/[id]/$video-failover.
func VideoFailoverOperation(s *Service) *operations.Operation {
	return video(s, "video-failover", "Moves the session to the next video provider and answers a token there.", (*Service).ProviderFailed)
}

func video(s *Service, code, doc string, run func(s *Service, ctx context.Context, c access.Caller, id string) ([]byte, error)) *operations.Operation {
	return &operations.Operation{
		Code: code, Types: []string{"Encounter"}, Levels: operations.Instance,
		AffectsState: true, Doc: doc, Params: videoOut,
		Who: "the session's patient (once its consents are given) or its practitioner, checked before any room or token is made.",
		Handler: func(ctx context.Context, r *operations.Request) (resources.Result, error) {
			if s == nil {
				return resources.Result{}, errDisabled
			}
			out, err := run(s, ctx, r.Caller, r.ID)
			if err != nil {
				return resources.Result{}, err
			}
			return resources.Result{Status: http.StatusOK, Body: out, Keys: keys(r.ID)}, nil
		},
	}
}

// QualityOperation is POST Encounter/[id]/$quality.
func QualityOperation(s *Service) *operations.Operation {
	return &operations.Operation{
		Code: "quality", Types: []string{"Encounter"}, Levels: operations.Instance,
		Input: operations.Body, AffectsState: true,
		Doc: "A technical quality report, kept apart from the clinical record.",
		Who: "the session's patient or practitioner.",
		Params: []operations.Param{{Name: "kind", Use: "in", Min: "1", Max: "1", Type: "code", Doc: "PACKET_LOSS, BITRATE_DROP, DISCONNECT, RECONNECT, JITTER"},
			{Name: "value", Use: "in", Min: "1", Max: "1", Type: "decimal"}},
		Handler: func(ctx context.Context, r *operations.Request) (resources.Result, error) {
			if s == nil {
				return resources.Result{}, errDisabled
			}
			err := s.Quality(ctx, r.Caller, r.ID, r.Body)
			return resources.Result{Status: http.StatusAccepted, Keys: keys(r.ID)}, err
		},
	}
}

package smart

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/oauth2"

	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/storage/oauth"
)

// Config configures the authorization server.
type Config struct {
	// Issuer is the server's public root URL; its endpoints live under
	// Issuer + "/auth".
	Issuer string
	// FHIRBase is the FHIR base the tokens are for; it names the realm.
	FHIRBase string
	// TokenLifespan is how long an access token lives (default 15 minutes).
	TokenLifespan time.Duration
	// HashCost is the bcrypt cost of client secrets (default 12). Tests
	// lower it to save time; it never switches hashing off.
	HashCost int
	// Limits bound failed authentications; nil means DefaultLimits.
	Limits *Limits
}

// Store is the database the provider keeps its state in.
type Store interface {
	tokenStore
	keyStore
	userStore
	launchStore
	launcherStore
	Secret(ctx context.Context, fresh func() ([]byte, error)) ([]byte, error)
	PutClient(ctx context.Context, c oauth.Client) error
}

// The server's store is storage/oauth's: a change to either side that
// parts them fails to compile here, not in the commands that wire them.
var _ Store = (*oauth.Store)(nil)

// Provider is the OAuth2 authorization server and the token check that
// guards every FHIR interaction.
type Provider struct {
	cfg    Config
	config *fosite.Config
	oauth  fosite.OAuth2Provider
	db     Store
	log    *slog.Logger
	cache  *accessCache
	// cookieKey signs the sign-in cookie and the CSRF tokens of the
	// authorization pages.
	cookieKey []byte
	dir       Directory
	jwks      *jwksCache // client key sets fetched from their jwks_uri
	tokens    *oauth2.HMACSHAStrategy
	limits    Limits
	pruneState
}

// New builds the provider; the HMAC key of its tokens is made on first use
// and kept in the database, so tokens outlive a restart.
func New(ctx context.Context, cfg Config, db Store, log *slog.Logger) (*Provider, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.TokenLifespan == 0 {
		cfg.TokenLifespan = 15 * time.Minute
	}
	if cfg.HashCost == 0 {
		cfg.HashCost = 12
	}
	cfg.Issuer = strings.TrimRight(cfg.Issuer, "/")
	secret, err := db.Secret(ctx, func() ([]byte, error) {
		b := make([]byte, 32)
		_, err := rand.Read(b)
		return b, err
	})
	if err != nil {
		return nil, err
	}
	config := &fosite.Config{
		AccessTokenLifespan:   cfg.TokenLifespan,
		AuthorizeCodeLifespan: authorizeCodeLifespan,
		RefreshTokenLifespan:  refreshTokenLifespan,
		IDTokenLifespan:       time.Hour,
		IDTokenIssuer:         cfg.Issuer,
		GlobalSecret:          secret,
		ScopeStrategy:         scopeStrategy,
		TokenURL:              cfg.Issuer + "/auth/token",
		AccessTokenIssuer:     cfg.Issuer,
		HashCost:              cfg.HashCost,
		// SMART 2.2: PKCE with S256 for every client, plain refused.
		EnforcePKCE:                    true,
		EnablePKCEPlainChallengeMethod: false,
		// A refresh token only for offline_access or online_access.
		RefreshTokenScopes: []string{"offline_access", "online_access"},
		// fosite fills these defaults in on first use, unguarded: set them
		// here, so that concurrent requests only read the config (the race
		// detector caught two refreshes writing the audience strategy).
		AudienceMatchingStrategy: fosite.DefaultAudienceMatchingStrategy,
		JWKSFetcherStrategy:      fosite.NewDefaultJWKSFetcherStrategy(),
	}
	config.ClientSecretsHasher = &fosite.BCrypt{Config: config}
	limits := DefaultLimits()
	if cfg.Limits != nil {
		limits = *cfg.Limits
	}
	p := &Provider{cfg: cfg, config: config, db: db, log: log, cache: newAccessCache(), cookieKey: secretFor(secret, "session cookie"), jwks: newJWKSCache(), limits: limits}
	config.ClientAuthenticationStrategy = p.authenticateClient
	p.tokens = compose.NewOAuth2HMACStrategy(config)
	strategy := &compose.CommonStrategy{
		CoreStrategy:               p.tokens,
		OpenIDConnectTokenStrategy: compose.NewOpenIDConnectStrategy(p.signingKey, config),
	}
	p.oauth = compose.Compose(config, fositeStore{db: db}, strategy,
		compose.OAuth2AuthorizeExplicitFactory,
		compose.OAuth2ClientCredentialsGrantFactory,
		compose.OAuth2RefreshTokenGrantFactory,
		compose.OAuth2PKCEFactory,
		compose.OpenIDConnectExplicitFactory,
		compose.OpenIDConnectRefreshFactory,
		compose.OAuth2TokenIntrospectionFactory,
		compose.OAuth2TokenRevocationFactory,
	)
	return p, nil
}

const (
	// authorizeCodeLifespan is short: a code is exchanged at once (SMART
	// recommends at most 10 minutes).
	authorizeCodeLifespan = time.Minute
	refreshTokenLifespan  = 30 * 24 * time.Hour
)

// TokenHandler is the token endpoint.
func (p *Provider) TokenHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if r.Method == http.MethodPost && r.ParseForm() == nil {
			// fosite calls an unknown grant an invalid request; RFC 6749 5.2 has a code for it.
			if g := r.PostForm.Get("grant_type"); g != "" && !slices.Contains(supportedGrants, g) {
				p.tokenError(ctx, w, nil, fosite.ErrUnsupportedGrantType.WithHintf("Supported grant types: %s.", strings.Join(supportedGrants, ", ")))
				return
			}
		}
		p.publicRefresh(r)
		ar, err := p.oauth.NewAccessRequest(ctx, r, newSession())
		if err != nil {
			p.tokenError(ctx, w, ar, err)
			return
		}
		if err := p.grantScopes(ar); err != nil {
			p.tokenError(ctx, w, ar, err)
			return
		}
		onlineOnly(ar)
		resp, err := p.oauth.NewAccessResponse(ctx, ar)
		if err != nil {
			p.tokenError(ctx, w, ar, err)
			return
		}
		if s, ok := ar.GetSession().(*Session); ok && !ar.GetGrantTypes().ExactOne("client_credentials") {
			p.launchExtras(resp, s)
		}
		p.log.Info("token issued", "client", ar.GetClient().GetID(), "grant", strings.Join(ar.GetGrantTypes(), " "))
		p.oauth.WriteAccessResponse(ctx, w, ar, resp)
	})
}

// publicRefresh names the client of a refresh request that carries no
// client authentication when the token belongs to a public client: RFC
// 6749 (6) asks only confidential clients to authenticate on refresh, and
// SMART's JavaScript client sends none. fosite identifies every client, so
// the client_id is read from the refresh token itself.
func (p *Provider) publicRefresh(r *http.Request) {
	if r.Method != http.MethodPost || r.ParseForm() != nil || r.PostForm.Get("grant_type") != "refresh_token" ||
		r.PostForm.Get("client_id") != "" || r.PostForm.Get("client_assertion") != "" || r.Header.Get("Authorization") != "" {
		return
	}
	sig := p.tokens.RefreshTokenSignature(r.Context(), r.PostForm.Get("refresh_token"))
	_, client, _, err := p.db.Token(r.Context(), "refresh", sig)
	if err == nil && client.Public {
		r.PostForm.Set("client_id", client.ID)
	}
}

// grantScopes decides the scopes of a token request. Client credentials
// get what they ask for (the grant handler has checked each against the
// client's registration). A code's scopes were granted by the user and are
// kept as fosite restored them. A refresh may ask for fewer than its grant
// holds, never more (RFC 6749 6).
func (p *Provider) grantScopes(ar fosite.AccessRequester) error {
	req, ok := ar.(*fosite.AccessRequest)
	if !ok {
		return fosite.ErrServerError.WithDebug("unexpected access request type")
	}
	switch {
	case ar.GetGrantTypes().ExactOne("client_credentials"):
		if len(ar.GetRequestedScopes()) == 0 {
			// SMART backend services require scope; a silent default grant
			// would hide the client's mistake.
			return fosite.ErrInvalidScope.WithHint("The scope parameter is required.")
		}
		for _, s := range ar.GetRequestedScopes() {
			ar.GrantScope(s)
		}
		if s, ok := ar.GetSession().(*Session); ok {
			s.Subject = ar.GetClient().GetID()
			s.Introspection = map[string]any{"iss": p.cfg.Issuer}
		}
	case ar.GetGrantTypes().ExactOne("refresh_token"):
		asked := fosite.RemoveEmpty(strings.Split(ar.GetRequestForm().Get("scope"), " "))
		if len(asked) == 0 {
			return nil
		}
		granted := ar.GetGrantedScopes()
		for _, s := range asked {
			if !slices.Contains(granted, s) && !scopeStrategy(granted, s) {
				return fosite.ErrInvalidScope.WithHintf("The scope %q was not granted to this refresh token; a refresh can only narrow scopes.", s)
			}
		}
		req.GrantedScope = fosite.Arguments(asked)
	}
	return nil
}

// onlineOnly ends the refresh token of a grant with online_access but not
// offline_access when the sign-in behind it ends (signinLifespan after the
// user authenticated), rather than after the offline lifespan: SMART's
// online access lasts as long as the user remains online.
func onlineOnly(ar fosite.AccessRequester) {
	s, ok := ar.GetSession().(*Session)
	if !ok || !s.OnlineOnly || s.Claims.AuthTime.IsZero() {
		return
	}
	end := s.Claims.AuthTime.Add(signinLifespan)
	if exp := s.GetExpiresAt(fosite.RefreshToken); exp.IsZero() || end.Before(exp) {
		s.SetExpiresAt(fosite.RefreshToken, end)
	}
}

// launchExtras adds the SMART launch context to the token response of a
// user's grant.
func (p *Provider) launchExtras(resp fosite.AccessResponder, s *Session) {
	l := s.Launch
	if l.Patient != "" {
		resp.SetExtra("patient", l.Patient)
	}
	if l.Encounter != "" {
		resp.SetExtra("encounter", l.Encounter)
	}
	if len(l.FHIRContext) > 0 {
		resp.SetExtra("fhirContext", l.FHIRContext)
	}
	if l.NeedPatientBanner != nil {
		resp.SetExtra("need_patient_banner", *l.NeedPatientBanner)
	}
	if l.Intent != "" {
		resp.SetExtra("intent", l.Intent)
	}
	resp.SetExtra("smart_style_url", p.cfg.Issuer+"/auth/smart-style.json")
}

func (p *Provider) tokenError(ctx context.Context, w http.ResponseWriter, ar fosite.AccessRequester, err error) {
	var locked *lockedOut
	if errors.As(err, &locked) {
		p.writeLockout(ctx, w, locked)
		return
	}
	rfc := fosite.ErrorToRFC6749Error(err)
	if rfc.ErrorField == fosite.ErrInvalidGrant.ErrorField {
		// A replayed code or a reused refresh token has just revoked its
		// grant: tokens checked before must not outlive that in the cache.
		p.cache.clear()
	}
	p.log.Warn("token request refused", "error", rfc.ErrorField, "hint", rfc.HintField)
	p.oauth.WriteAccessError(ctx, w, ar, err)
}

// RevokeHandler is the RFC 7009 revocation endpoint.
func (p *Provider) RevokeHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := p.oauth.NewRevocationRequest(r.Context(), r)
		if err == nil {
			p.cache.clear()
		}
		var locked *lockedOut
		if errors.As(err, &locked) {
			p.writeLockout(r.Context(), w, locked)
			return
		}
		p.oauth.WriteRevocationResponse(r.Context(), w, err)
	})
}

// IntrospectHandler is the RFC 7662 introspection endpoint: the caller
// authenticates as a confidential client (or with an access token). A
// token is active only to the client it was issued to and to the resource
// servers (RFC 7662 4: a resource server learns nothing of tokens not
// meant for it); an unknown, expired or revoked token, or another
// client's, is 200 {"active": false}.
func (p *Provider) IntrospectHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if r.Method != http.MethodPost || r.ParseForm() != nil {
			p.oauth.WriteIntrospectionError(ctx, w, fosite.ErrInvalidRequest.WithHint("POST a form with the token."))
			return
		}
		caller, err := p.introspectionCaller(ctx, r)
		var locked *lockedOut
		if errors.As(err, &locked) {
			p.writeLockout(ctx, w, locked)
			return
		}
		if err != nil {
			p.oauth.WriteIntrospectionError(ctx, w, fosite.ErrRequestUnauthorized.WithHint("The client credentials are missing or invalid.").WithWrap(err))
			return
		}
		token := r.PostForm.Get("token")
		use, ar, err := p.oauth.IntrospectToken(ctx, token, fosite.TokenUse(r.PostForm.Get("token_type_hint")), newSession())
		if err != nil || !mayIntrospect(caller, ar) {
			p.oauth.WriteIntrospectionResponse(ctx, w, &fosite.IntrospectionResponse{Active: false})
			return
		}
		resp := &fosite.IntrospectionResponse{Active: true, AccessRequester: ar, TokenUse: use}
		if use == fosite.AccessToken {
			resp.AccessTokenType = fosite.BearerAccessToken
		}
		p.oauth.WriteIntrospectionResponse(ctx, w, resp)
	})
}

// introspectionCaller authenticates the caller of the introspection
// endpoint: a confidential client (under the limits on failures), or the
// client of the access token it presents.
func (p *Provider) introspectionCaller(ctx context.Context, r *http.Request) (fosite.Client, error) {
	if bearer := fosite.AccessTokenFromRequest(r); bearer != "" {
		if bearer == r.PostForm.Get("token") {
			return nil, errors.New("the bearer token is the token to introspect")
		}
		use, ar, err := p.oauth.IntrospectToken(ctx, bearer, fosite.AccessToken, newSession())
		if err != nil || use != fosite.AccessToken {
			return nil, errors.New("the bearer token is not an active access token")
		}
		return ar.GetClient(), nil
	}
	c, err := p.authenticateClient(ctx, r, r.PostForm)
	if err == nil && c.IsPublic() {
		return nil, errors.New("a public client cannot introspect")
	}
	return c, err
}

func mayIntrospect(caller fosite.Client, ar fosite.AccessRequester) bool {
	if c, ok := caller.(*client); ok && c.resourceServer {
		return true
	}
	return ar != nil && ar.GetClient() != nil && ar.GetClient().GetID() == caller.GetID()
}

// Discovery is the SMART configuration document (.well-known/smart-configuration):
// only capabilities this server has.
func (p *Provider) Discovery() map[string]any {
	return map[string]any{
		"issuer":                                p.cfg.Issuer,
		"jwks_uri":                              p.cfg.Issuer + "/auth/jwks",
		"authorization_endpoint":                p.cfg.Issuer + "/auth/authorize",
		"token_endpoint":                        p.cfg.Issuer + "/auth/token",
		"introspection_endpoint":                p.cfg.Issuer + "/auth/introspect",
		"revocation_endpoint":                   p.cfg.Issuer + "/auth/revoke",
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post", "private_key_jwt"},
		"token_endpoint_auth_signing_alg_values_supported": []string{"RS384", "ES384"},
		"grant_types_supported":                            supportedGrants,
		"response_types_supported":                         []string{"code"},
		"scopes_supported": append([]string{
			"openid", "fhirUser", "launch", "launch/patient", "launch/encounter", "offline_access", "online_access",
			"patient/*.read", "patient/*.rs", "user/*.read", "user/*.rs", "user/*.cruds", "user/*.*",
			"system/*.read", "system/*.write", "system/*.*", "system/*.cruds", "system/*.rs",
		}, usCoreScopes()...),
		"capabilities": []string{
			"launch-ehr", "launch-standalone", "authorize-post",
			"client-public", "client-confidential-symmetric", "client-confidential-asymmetric",
			"context-ehr-patient", "context-ehr-encounter", "context-standalone-patient", "context-standalone-encounter",
			"context-banner", "context-style",
			"permission-offline", "permission-online", "permission-patient", "permission-user", "permission-v1", "permission-v2",
			"sso-openid-connect",
		},
		"code_challenge_methods_supported": []string{"S256"},
	}
}

// OpenIDConfiguration is the OpenID Connect discovery document.
func (p *Provider) OpenIDConfiguration() map[string]any {
	return map[string]any{
		"issuer":                                p.cfg.Issuer,
		"authorization_endpoint":                p.cfg.Issuer + "/auth/authorize",
		"token_endpoint":                        p.cfg.Issuer + "/auth/token",
		"jwks_uri":                              p.cfg.Issuer + "/auth/jwks",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{idTokenAlg},
		"scopes_supported":                      []string{"openid", "fhirUser", "profile", "offline_access", "online_access"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post", "private_key_jwt"},
		"claims_supported":                      []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "fhirUser"},
		"code_challenge_methods_supported":      []string{"S256"},
		"grant_types_supported":                 supportedGrants,
	}
}

// JWKSHandler serves the public keys that verify id_tokens.
func (p *Provider) JWKSHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		set, err := p.JWKS(r.Context())
		if err != nil {
			p.log.Error("jwks", "err", err)
			http.Error(w, "keys unavailable", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_ = json.NewEncoder(w).Encode(set)
	})
}

// Security is the CapabilityStatement's rest.security: SMART, with the
// OAuth endpoints in the oauth-uris extension.
func (p *Provider) Security() map[string]any {
	return map[string]any{
		"cors": true,
		"service": []map[string]any{{
			"coding": []map[string]string{{
				"system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
				"code":   "SMART-on-FHIR",
			}},
			"text": "OAuth2 using SMART-on-FHIR profile (see http://docs.smarthealthit.org)",
		}},
		"extension": []map[string]any{{
			"url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
			"extension": []map[string]string{
				{"url": "authorize", "valueUri": p.cfg.Issuer + "/auth/authorize"},
				{"url": "token", "valueUri": p.cfg.Issuer + "/auth/token"},
				{"url": "introspect", "valueUri": p.cfg.Issuer + "/auth/introspect"},
				{"url": "revoke", "valueUri": p.cfg.Issuer + "/auth/revoke"},
			},
		}},
	}
}

// tokenError is why a bearer token was refused, for WWW-Authenticate.
type tokenError struct {
	code string // RFC 6750 error code; empty when no token was sent
	desc string
}

func (e *tokenError) Error() string { return e.desc }

func unauthorized(code, desc string) error {
	return outcome.E(outcome.Unauthorized, "%s", desc).Wrap("authenticate", &tokenError{code: code, desc: desc})
}

// Authenticate checks the request's bearer token and returns what it grants.
func (p *Provider) Authenticate(r *http.Request) (*Access, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, unauthorized("", "an access token is required")
	}
	scheme, token, ok := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return nil, unauthorized("invalid_request", "the Authorization header must be 'Bearer <token>'")
	}
	key := sha256.Sum256([]byte(token))
	if a := p.cache.get(key); a != nil {
		return a, nil
	}
	use, ar, err := p.oauth.IntrospectToken(r.Context(), token, fosite.AccessToken, newSession())
	if err != nil {
		rfc := fosite.ErrorToRFC6749Error(err)
		if rfc.ErrorField == fosite.ErrServerError.ErrorField {
			return nil, outcome.E(outcome.Internal, "token check failed").Wrap("authenticate", err)
		}
		desc := "the access token is unknown, expired or revoked"
		if errors.Is(err, fosite.ErrTokenExpired) {
			desc = "the access token has expired"
		}
		return nil, unauthorized("invalid_token", desc)
	}
	if use != fosite.AccessToken {
		return nil, unauthorized("invalid_token", "a refresh token is not an access token")
	}
	a := newAccess(ar.GetClient().GetID(), ar.GetGrantedScopes())
	if s, ok := ar.GetSession().(*Session); ok {
		a.User, a.Role, a.FHIRUser, a.Patient, a.Encounter = s.User, s.Role, s.FHIRUser, s.Launch.Patient, s.Launch.Encounter
		a.UserResource = s.UserResource
	}
	a.Expires = ar.GetSession().GetExpiresAt(fosite.AccessToken)
	p.cache.put(key, a, a.Expires)
	return a, nil
}

// Challenge is the WWW-Authenticate value for a refused request (RFC 6750 3).
func (p *Provider) Challenge(err error) string {
	c := `Bearer realm="` + p.cfg.FHIRBase + `"`
	var te *tokenError
	if errors.As(err, &te) && te.code != "" {
		c += `, error="` + te.code + `", error_description="` + te.desc + `"`
	}
	return c
}

// accessCache remembers checked tokens briefly, so that a client's burst
// of requests costs one lookup. Entries last at most cacheFor, and a
// revocation through this server empties it at once.
type accessCache struct {
	mu      sync.Mutex
	entries map[[32]byte]cached
}

type cached struct {
	access *Access
	until  time.Time
}

const (
	cacheFor     = 10 * time.Second
	cacheEntries = 10000
)

func newAccessCache() *accessCache { return &accessCache{entries: map[[32]byte]cached{}} }

func (c *accessCache) get(key [32]byte) *Access {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || time.Now().After(e.until) {
		return nil
	}
	return e.access
}

func (c *accessCache) put(key [32]byte, a *Access, expires time.Time) {
	until := time.Now().Add(cacheFor)
	if !expires.IsZero() && expires.Before(until) {
		until = expires
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= cacheEntries {
		c.entries = map[[32]byte]cached{}
	}
	c.entries[key] = cached{access: a, until: until}
}

func (c *accessCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = map[[32]byte]cached{}
}

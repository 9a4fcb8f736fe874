// Real OAuth2 servers for rbk's interop tests (started by .ci/setup-oauth2.sh):
//  * oidc-provider (certified OpenID provider) on PORT: client_credentials,
//    authorization code (+PKCE), refresh tokens, private_key_jwt,
//    client_secret_jwt, client_secret_basic/post, introspection.
//  * oauth2-mock-server on PORT+1: the password grant.
// Besides the providers' own endpoints, oidc-provider's app serves:
//  /rbk/resource       a protected resource: introspects the bearer token at
//                      oidc-provider's introspection endpoint; 401 unless active
//                      (?reject_first=NAME answers 401 to the first call per NAME)
//  /rbk/mock-resource  the same for oauth2-mock-server's JWTs (verified with its JWKS)
//  /rbk/stats          counts of token grants per client and of resource calls
//  /rbk/html-token, /rbk/no-access-token   broken token endpoints
// Login and consent use oidc-provider's own HTML pages (devInteractions):
// a test submits the login form (user `rbk-user`, password below; a wrong
// password gets the form again with 401) and the consent form over plain
// HTTP. Prints one JSON line when ready.
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Provider from 'oidc-provider';
import { OAuth2Server } from 'oauth2-mock-server';
import { createRemoteJWKSet, jwtVerify } from 'jose';

const port = Number(process.env.PORT || 18800);
const mockPort = port + 1;
const issuer = `http://127.0.0.1:${port}`;
const mockUrl = `http://127.0.0.1:${mockPort}`;

// Secrets the tests plant (they must never appear in rbk's output).
const S = {
  cc: 'cc-secret-Planted-7f3a9c1e',
  post: 'post-secret-Planted-52be11d0',
  code: 'code-secret-Planted-a81c44f2',
  resource: 'resource-secret-not-for-rbk-0b5e',
  jwt: 'client-secret-jwt-Planted-0123456789abcdef0123456789abcdef',
  user: 'user-password-Planted-e6c03b71',
};

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const dir = mkdtempSync(join(tmpdir(), 'rbk-oidc-'));
const keyPath = join(dir, 'client-key.pem');
writeFileSync(keyPath, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'rbk-test-key', use: 'sig' };

const cc = (id, extra = {}) => ({
  client_id: id, client_secret: S.cc, grant_types: ['client_credentials'],
  response_types: [], redirect_uris: [], token_endpoint_auth_method: 'client_secret_basic',
  scope: 'api:read api:write', ...extra,
});
const code = (id, port, extra = {}) => ({
  client_id: id, client_secret: S.code, application_type: 'native',
  grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
  redirect_uris: [`http://127.0.0.1:${port}/callback`], token_endpoint_auth_method: 'client_secret_basic',
  ...extra,
});

const clients = [
  cc('rbk-cc'), cc('rbk-cc-401'), cc('rbk-cc-secrets'), cc('rbk-cc-short'), cc('rbk-cc-inst-a'), cc('rbk-cc-inst-b'),
  cc('rbk-cc-post', { client_secret: S.post, token_endpoint_auth_method: 'client_secret_post' }),
  cc('rbk-pkjwt', { client_secret: undefined, token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [jwk] } }),
  cc('rbk-pkjwt-ps', { client_secret: undefined, token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [jwk] } }),
  cc('rbk-csjwt', { client_secret: S.jwt, token_endpoint_auth_method: 'client_secret_jwt' }),
  code('rbk-code', 18791), code('rbk-code-short', 18793), code('rbk-code-decline', 18794),
  code('rbk-pkce', 18792, { client_secret: undefined, token_endpoint_auth_method: 'none' }),
  { client_id: 'rbk-resource', client_secret: S.resource, grant_types: [], response_types: [], redirect_uris: [] },
];
for (const c of clients) if (c.client_secret === undefined) delete c.client_secret;

const short = (client) => (client && client.clientId.includes('short') ? 40 : 600);
const provider = new Provider(issuer, {
  clients,
  scopes: ['openid', 'offline_access', 'api:read', 'api:write'],
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
  },
  pkce: { methods: ['S256'], required: (ctx, client) => client.clientId === 'rbk-pkce' },
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  ttl: {
    AccessToken: (ctx, token, client) => short(client),
    ClientCredentials: (ctx, token, client) => short(client),
  },
  cookies: { keys: ['rbk-test-cookie-key'] },
  findAccount: async (ctx, id) => (id === 'rbk-user'
    ? { accountId: id, claims: async () => ({ sub: id }) }
    : undefined),
});
provider.proxy = false;

const stats = { grants: {}, resource: {}, rejected: {}, interactions: {} };
provider.on('grant.success', (ctx) => {
  const id = ctx.oidc.client?.clientId || '?';
  const g = ctx.oidc.params?.grant_type || '?';
  stats.grants[id] ??= {};
  stats.grants[id][g] = (stats.grants[id][g] || 0) + 1;
});

const mockJwks = createRemoteJWKSet(new URL(`${mockUrl}/jwks`));
const bearer = (ctx) => {
  const h = ctx.get('authorization') || '';
  return h.startsWith('Bearer ') ? h.slice(7) : '';
};

provider.use(async (ctx, next) => {
  if (ctx.method === 'POST' && /^\/interaction\/[^/]+$/.test(ctx.path)) {
    // devInteractions accepts any login; this server knows one user.
    const raw = await new Promise((resolve) => {
      let data = '';
      ctx.req.on('data', (c) => { data += c; });
      ctx.req.on('end', () => resolve(data));
    });
    const form = new URLSearchParams(raw);
    stats.interactions[form.get('prompt') || '?'] = (stats.interactions[form.get('prompt') || '?'] || 0) + 1;
    if (form.get('prompt') === 'login'
      && (form.get('login') !== 'rbk-user' || form.get('password') !== S.user)) {
      ctx.status = 401;
      ctx.type = 'text/html';
      ctx.body = '<!doctype html><p>wrong login or password</p>';
      return;
    }
    // Hand the parsed body on to oidc-provider's body parser.
    ctx.req.body = Object.fromEntries(form);
    await next();
    return;
  }
  if (ctx.path === '/rbk/stats') { ctx.body = stats; return; }
  if (ctx.path === '/rbk/html-token') {
    ctx.type = 'text/html';
    ctx.body = '<!doctype html><html><body><form>Sign in</form></body></html>';
    return;
  }
  if (ctx.path === '/rbk/no-access-token') { ctx.body = { token_type: 'Bearer', expires_in: 60 }; return; }
  if (ctx.path === '/rbk/resource' || ctx.path === '/rbk/mock-resource') {
    const name = ctx.query.name || 'default';
    stats.resource[name] = (stats.resource[name] || 0) + 1;
    const reject = ctx.query.reject_first;
    if (reject && !stats.rejected[reject]) {
      stats.rejected[reject] = true;
      ctx.status = 401;
      ctx.body = { error: 'invalid_token', error_description: 'rejected once on purpose' };
      return;
    }
    const token = bearer(ctx);
    let result;
    if (ctx.path === '/rbk/resource') {
      const r = await fetch(`${issuer}/token/introspection`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: 'Basic ' + Buffer.from(`rbk-resource:${S.resource}`).toString('base64'),
        },
        body: new URLSearchParams({ token }),
      });
      result = await r.json();
    } else {
      try {
        const { payload } = await jwtVerify(token, mockJwks);
        result = { active: true, sub: payload.sub, scope: payload.scope, exp: payload.exp };
      } catch (e) {
        result = { active: false, reason: String(e.code || e.message) };
      }
    }
    if (result.active) { result.sub ??= ''; result.client_id ??= ''; }
    ctx.status = result.active ? 200 : 401;
    ctx.body = result;
    return;
  }
  await next();
});

const mock = new OAuth2Server();
await mock.issuer.keys.generate('RS256');
mock.service.on('beforeResponse', (resp, req) => {
  const b = req.body || {};
  if (b.grant_type === 'password') {
    stats.grants['mock-password'] = (stats.grants['mock-password'] || 0) + 1;
    if (b.username !== 'rbk-user' || b.password !== 'rbk-password-Planted-9d2f') {
      resp.statusCode = 400;
      resp.body = { error: 'invalid_grant', error_description: 'wrong username or password' };
    }
  }
});
await mock.start(mockPort, '127.0.0.1');
await new Promise((resolve) => provider.listen(port, '127.0.0.1', resolve));
console.log(JSON.stringify({ ready: true, oidc: issuer, mock: mockUrl, key: keyPath }));

// A real OAuth 2.0 / OpenID Connect server for end-to-end tests: node-oidc-provider
// (npm `oidc-provider`, certified by the OpenID Foundation), configured for what
// a token-lifecycle test needs. Start: `node server.mjs PORT` (issuer
// http://127.0.0.1:PORT; PORT 0 picks a free port, and the line below names
// the port it got). Environment:
//   ACCESS_TTL   access token lifetime in seconds (default 5)
//   REDIRECT_URI both clients' registered redirect URI (default http://127.0.0.1:8765/callback)
//   OIDC_EXIT_WITH_STDIN=1  exit when stdin closes (the Rust tests set it, so a
//                killed test process leaves no server behind)
// Prints `oidc-provider listening on http://127.0.0.1:PORT` once it listens.
import { createServer } from 'node:http';
import Provider from 'oidc-provider';

const requestedPort = Number(process.argv[2] || 39111);
const accessTtl = Number(process.env.ACCESS_TTL || 5);
const redirectUri = process.env.REDIRECT_URI || 'http://127.0.0.1:8765/callback';
const resource = 'https://api.example.test';

// The issuer names the port, so the provider is made once the socket is bound.
const configuration = {
  clients: [
    {
      // a native app: no secret, PKCE, refresh tokens
      client_id: 'native-app',
      token_endpoint_auth_method: 'none',
      application_type: 'native',
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
    },
    {
      // a confidential client: HTTP Basic, also acts as itself
      client_id: 'service-client',
      client_secret: 'service-secret',
      token_endpoint_auth_method: 'client_secret_basic',
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      response_types: ['code'],
    },
  ],
  scopes: ['openid', 'offline_access', 'files:read', 'files:write'],
  features: {
    devInteractions: { enabled: true },   // HTML login/consent forms a test can POST to
    clientCredentials: { enabled: true },
    revocation: { enabled: true },         // RFC 7009, POST /token/revocation
    introspection: { enabled: true },      // RFC 7662, POST /token/introspection
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'files:read files:write',
        accessTokenTTL: accessTtl,
        accessTokenFormat: 'opaque',   // a resource server checks it at /token/introspection
      }),
    },
  },
  pkce: { required: () => true },
  rotateRefreshToken: true,
  ttl: {
    AccessToken: accessTtl,
    ClientCredentials: accessTtl,
    RefreshToken: 3600,
    AuthorizationCode: 60,
    Grant: 3600,
    Interaction: 600,
    Session: 3600,
  },
  // keep a refresh token whenever one was asked for with offline_access
  issueRefreshToken: async (ctx, client, code) =>
    client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access'),
};

if (process.env.OIDC_EXIT_WITH_STDIN === '1') {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
}

const server = createServer();
server.on('error', (error) => {
  console.error(`oidc-provider cannot listen on 127.0.0.1:${requestedPort}: ${error.message}`);
  process.exit(1);
});
server.listen(requestedPort, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, configuration);
  provider.proxy = false;
  server.on('request', provider.callback());
  console.log(`oidc-provider listening on ${issuer}`);
});

// node oidc-provider (OpenID-certified) as the peer of scripts/bench-oidc, with clients
// equivalent to govgate's bench clients:
//   bench-cc   client_secret_basic, client_credentials, scope "api:read"
//   bench-rp   client_secret_basic, authorization_code + refresh_token, PKCE S256,
//              redirect_uri $REDIRECT_URI; consent skipped like a govgate first_party client
//
//   PORT=4000 CLIENT_SECRET=… REDIRECT_URI=http://127.0.0.1:9/cb \
//   [TOKEN_FORMAT=jwt|opaque] [ACCESS_TOKEN_ALG=ES256|RS256] node server.mjs
//
// TOKEN_FORMAT=jwt (default): client_credentials tokens are JWTs (RFC 9068), as govgate's,
//   through resource indicators: the client's default resource is urn:govgate-bench:api,
//   a resource server whose accessTokenFormat is 'jwt', signed with ACCESS_TOKEN_ALG.
// TOKEN_FORMAT=opaque: oidc-provider's default, an opaque token kept in its (in-memory)
//   store — no resource indicator at all.
// Logins use devInteractions (the built-in dev login page: any login, the password is NOT
// checked — unlike govgate, which verifies an Argon2id hash). Prints "listening PORT" once up.
import { generateKeyPair, exportJWK } from 'jose';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT || 4000);
const secret = process.env.CLIENT_SECRET;
const redirectUri = process.env.REDIRECT_URI || 'http://127.0.0.1:9/cb';
const tokenFormat = process.env.TOKEN_FORMAT || 'jwt';
const accessTokenAlg = process.env.ACCESS_TOKEN_ALG || 'ES256';
if (!secret || secret.length < 32) throw new Error('CLIENT_SECRET of at least 32 characters is required');
if (!['jwt', 'opaque'].includes(tokenFormat)) throw new Error(`TOKEN_FORMAT ${tokenFormat}: jwt or opaque`);

const RESOURCE = 'urn:govgate-bench:api';
const API_SCOPE = 'api:read';

async function signingKey(alg, kid) {
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  return { ...(await exportJWK(privateKey)), kid, alg, use: 'sig' };
}

const users = new Map([['nvan', { name: 'Nguyễn Văn An', email: 'an.nv@namdinh.gov.vn' }]]);

const configuration = {
  clients: [
    {
      client_id: 'bench-cc',
      client_secret: secret,
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      scope: API_SCOPE,
    },
    {
      client_id: 'bench-rp',
      client_secret: secret,
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: [redirectUri],
      scope: 'openid profile email offline_access',
    },
  ],
  jwks: { keys: [await signingKey('RS256', 'rs256'), await signingKey('ES256', 'es256')] },
  cookies: { keys: ['bench-cookie-key-0123456789abcdef0123456789'] },
  scopes: ['openid', 'offline_access', 'profile', 'email', API_SCOPE],
  claims: { openid: ['sub'], profile: ['name', 'preferred_username'], email: ['email'] },
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: tokenFormat === 'jwt'
      ? {
        enabled: true,
        defaultResource: (ctx, client, oneOf) => oneOf ?? (ctx.oidc.params?.grant_type === 'client_credentials' ? RESOURCE : undefined),
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resourceIndicator) => {
          if (resourceIndicator !== RESOURCE) throw new Provider.errors.InvalidTarget();
          return {
            scope: API_SCOPE,
            audience: RESOURCE,
            accessTokenTTL: 600,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: accessTokenAlg } },
          };
        },
      }
      : { enabled: false },
  },
  ttl: { AccessToken: 600, ClientCredentials: 600, AuthorizationCode: 60, IdToken: 600 },
  async findAccount(ctx, id) {
    const user = users.get(id) ?? { name: id, email: `${id}@example.invalid` };
    return {
      accountId: id,
      async claims() {
        return { sub: id, name: user.name, preferred_username: id, email: user.email };
      },
    };
  },
  // First-party: grant what the client asks for without a consent page (govgate's
  // first_party = true does the same).
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid profile email offline_access');
    await grant.save();
    return grant;
  },
};

const provider = new Provider(`http://127.0.0.1:${port}`, configuration);
provider.on('server_error', (ctx, error) => process.stderr.write(`server_error: ${error.stack}\n`));
provider.listen(port, '127.0.0.1', () => process.stdout.write(`listening ${port}\n`));

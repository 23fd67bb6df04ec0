// A real OpenID provider for crates/firebreak/tests/oidc.rs: oidc-provider (a certified
// implementation of OpenID Connect) on 127.0.0.1, on a port of its own choosing, with three
// accounts and an interaction that approves at once, so a test drives the whole authorization
// code flow with plain HTTP requests and no browser.
//
// It prints `READY <issuer>` when it listens. The test then tells it, with plain POSTs:
//   /test/redirect  the redirect URI of the `firebreak` client (Firebreak's callback);
//   /test/account   which account the next sign-in is (ada, bob or eve).
// OIDC_CODE_TTL sets how many seconds an authorization code lives (60 by default);
// OIDC_CLIENT_SECRET the client's secret.

import http from 'node:http';

import Provider from 'oidc-provider';

const accounts = {
  // Mixed case: Firebreak matches email addresses without regard to case.
  ada: {
    email: 'Ada@Example.com',
    email_verified: true,
    name: 'Ada Lovelace',
    preferred_username: 'Ada.Lovelace',
    groups: ['staff', 'firebreak-admins'],
  },
  bob: {
    email: 'bob@example.com',
    email_verified: true,
    name: 'Bob',
    preferred_username: 'bob',
    groups: ['staff'],
  },
  eve: {
    email: 'eve@example.com',
    email_verified: true,
    name: 'Eve',
    groups: ['contractors'],
  },
};

const clientSecret = process.env.OIDC_CLIENT_SECRET || 'test-client-secret';
const codeTtl = Number(process.env.OIDC_CODE_TTL || 60);
let nextAccount = 'ada';
let redirectUri = null;

// Everything the provider keeps, in memory. The one client is made up when asked for, so its
// redirect URI can be set after Firebreak (whose port it names) has started.
const store = new Map();

class Adapter {
  constructor(name) {
    this.name = name;
  }

  key(id) {
    return `${this.name}:${id}`;
  }

  async upsert(id, payload) {
    store.set(this.key(id), { ...payload });
  }

  async find(id) {
    if (this.name === 'Client') {
      if (id !== 'firebreak' || !redirectUri) return undefined;
      return {
        client_id: 'firebreak',
        client_secret: clientSecret,
        redirect_uris: [redirectUri],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      };
    }
    return store.get(this.key(id));
  }

  async findByUid(uid) {
    for (const [key, payload] of store) {
      if (key.startsWith(`${this.name}:`) && payload.uid === uid) return payload;
    }
    return undefined;
  }

  async findByUserCode() {
    return undefined;
  }

  async consume(id) {
    const payload = store.get(this.key(id));
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    store.delete(this.key(id));
  }

  async revokeByGrantId(grantId) {
    for (const [key, payload] of store) {
      if (payload.grantId === grantId) store.delete(key);
    }
  }
}

function body(req) {
  return new Promise((resolve, reject) => {
    let text = '';
    req.on('data', (chunk) => {
      text += chunk;
    });
    req.on('end', () => resolve(text.trim()));
    req.on('error', reject);
  });
}

let provider;

async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session } = details;
  if (prompt.name === 'login') {
    await provider.interactionFinished(
      req,
      res,
      { login: { accountId: nextAccount } },
      { mergeWithLastSubmission: false },
    );
    return;
  }
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (prompt.details.missingOIDCScope) {
    grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
  }
  if (prompt.details.missingOIDCClaims) {
    grant.addOIDCClaims(prompt.details.missingOIDCClaims);
  }
  for (const [indicator, scopes] of Object.entries(prompt.details.missingResourceScopes || {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const grantId = await grant.save();
  await provider.interactionFinished(
    req,
    res,
    { consent: { grantId } },
    { mergeWithLastSubmission: true },
  );
}

const server = http.createServer(async (req, res) => {
  try {
    if (req.method === 'POST' && req.url === '/test/redirect') {
      redirectUri = await body(req);
      res.end('ok');
    } else if (req.method === 'POST' && req.url === '/test/account') {
      const account = await body(req);
      if (!accounts[account]) {
        res.statusCode = 400;
        res.end(`no account ${account}`);
        return;
      }
      nextAccount = account;
      res.end('ok');
    } else if (req.url.startsWith('/interaction/')) {
      await interaction(req, res);
    } else {
      provider.callback()(req, res);
    }
  } catch (e) {
    res.statusCode = 500;
    res.end(String(e && e.stack ? e.stack : e));
  }
});

server.listen(0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  provider = new Provider(issuer, {
    adapter: Adapter,
    async findAccount(ctx, id) {
      const account = accounts[id];
      if (!account) return undefined;
      return { accountId: id, claims: async () => ({ sub: id, ...account }) };
    },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username', 'groups'],
    },
    // The ID token carries the scopes' claims (groups among them), not only `sub`.
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: false } },
    interactions: { url: (ctx, i) => `/interaction/${i.uid}` },
    pkce: { required: () => true },
    cookies: { keys: ['firebreak-test-cookie-key'] },
    ttl: {
      AccessToken: 3600,
      AuthorizationCode: codeTtl,
      IdToken: 3600,
      Grant: 3600,
      Interaction: 600,
      Session: 3600,
    },
  });
  console.log(`READY ${issuer}`);
});

process.on('SIGTERM', () => process.exit(0));

"""The preview gateway's sign-in (docs/preview-urls.md, "Authenticated previews"): pure.

The control plane's keys as the agent delivers them, the jwt_authn filter that checks its
tokens offline, and the Lua step that sends a browser without one to the control plane and
keeps the token it comes back with in a host-only cookie. Routes of authenticated hosts turn
both on (core/gateway.py); public hosts and the 404 pass through them untouched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from envoy.config.core.v3 import base_pb2
from envoy.extensions.filters.http.jwt_authn.v3 import config_pb2 as jwt_pb2
from google.protobuf import empty_pb2

from sandboxmesh.spec import preview

PROVIDER = "controlplane"
REQUIREMENT = "member"
JWT_FILTER = "envoy.filters.http.jwt_authn"
LUA_FILTER = "envoy.filters.http.lua"


@dataclass(frozen=True)
class PreviewKeys:
    """The control plane's issuer, authorize URL and public keys (JWKS as JSON text), as the
    agent wrote them into the ConfigMap spec.preview.PREVIEW_KEYS_CONFIGMAP."""

    issuer: str
    authorize_url: str
    jwks: str


def keys_from_configmap(data: dict[str, str] | None) -> PreviewKeys | None:
    """The keys in the agent's ConfigMap data, or None when it is missing or unusable."""
    if not data:
        return None
    issuer = data.get(preview.KEYS_ISSUER, "")
    authorize = data.get(preview.KEYS_AUTHORIZE_URL, "")
    jwks = data.get(preview.KEYS_JWKS, "")
    try:
        parsed = json.loads(jwks)
    except ValueError:
        return None
    if not issuer or not authorize.startswith(("https://", "http://")):
        return None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("keys"), list):
        return None
    return PreviewKeys(issuer=issuer, authorize_url=authorize, jwks=json.dumps(parsed))


def jwt_filter(keys: PreviewKeys) -> jwt_pb2.JwtAuthentication:
    provider = jwt_pb2.JwtProvider(
        issuer=keys.issuer,
        local_jwks=base_pb2.DataSource(inline_string=keys.jwks),
        from_headers=[jwt_pb2.JwtHeader(name=preview.TOKEN_HEADER)],
        from_cookies=[preview.COOKIE_NAME],
        from_params=[preview.CALLBACK_TOKEN_PARAM],
        payload_in_metadata="payload",
        # Not removed by jwt_authn: it would strip the callback's query parameter before the
        # Lua step reads it. The header is removed from what the application gets by the
        # virtual host instead; the cookie goes on, as the browser sends it.
        forward=True,
    )
    either = jwt_pb2.JwtRequirementOrList(
        requirements=[
            jwt_pb2.JwtRequirement(provider_name=PROVIDER),
            # A request without a token passes on to the Lua filter, which sends a browser to
            # sign in; one with a token that fails (forged, expired) is refused here: 401.
            jwt_pb2.JwtRequirement(allow_missing=empty_pb2.Empty()),
        ]
    )
    return jwt_pb2.JwtAuthentication(
        providers={PROVIDER: provider},
        requirement_map={REQUIREMENT: jwt_pb2.JwtRequirement(requires_any=either)},
    )


#: The sign-in steps of an authenticated host (routes carry `host` and `authorize` as Lua
#: metadata; public hosts and the 404 carry none and pass untouched). jwt_authn has already
#: refused a token that does not verify, and put a verified one's claims in the metadata.
LUA_SOURCE = r"""
local COOKIE = "@COOKIE@"
local CALLBACK = "@CALLBACK@"
local TOKEN_PARAM = "@TOKEN_PARAM@"
local NEXT_PARAM = "@NEXT_PARAM@"
local URL_PARAM = "@URL_PARAM@"

local function encode(text)
  return (string.gsub(text, "[^%w%-%._~]", function(c)
    return string.format("%%%02X", string.byte(c))
  end))
end

local function decode(text)
  text = string.gsub(text, "%+", " ")
  return (string.gsub(text, "%%(%x%x)", function(h)
    return string.char(tonumber(h, 16))
  end))
end

local function param(query, name)
  for pair in string.gmatch(query, "[^&]+") do
    local key, value = string.match(pair, "^([^=]*)=(.*)$")
    if key ~= nil and decode(key) == name then
      return decode(value)
    end
  end
  return nil
end

local function refuse(handle, status, text)
  handle:respond({[":status"] = status, ["content-type"] = "text/plain; charset=utf-8",
                  ["cache-control"] = "no-store"}, text)
end

local function audience_is(payload, host)
  local aud = payload["aud"]
  if type(aud) == "string" then
    return aud == host
  end
  if type(aud) == "table" then
    for _, value in pairs(aud) do
      if value == host then
        return true
      end
    end
  end
  return false
end

function envoy_on_request(handle)
  local meta = handle:metadata()
  local host = meta:get("host")
  if host == nil then
    return
  end
  local headers = handle:headers()
  local target = headers:get(":path") or "/"
  local path, query = string.match(target, "^([^?]*)%??(.*)$")
  local verified = handle:streamInfo():dynamicMetadata():get("@JWT_FILTER@")
  local payload = verified and verified["payload"]
  if payload ~= nil and not audience_is(payload, host) then
    refuse(handle, "401", "This preview token was signed for another address.\n")
    return
  end
  if path == CALLBACK then
    local token = param(query, TOKEN_PARAM)
    if payload == nil or token == nil then
      refuse(handle, "401", "The sign-in did not bring a valid token.\n")
      return
    end
    local next = param(query, NEXT_PARAM) or "/"
    -- Only a path of this host: never "//elsewhere" or "/\\elsewhere".
    if string.sub(next, 1, 1) ~= "/" or string.match(next, "^/[/\\]") then
      next = "/"
    end
    local seconds = math.floor((tonumber(payload["exp"]) or 0) - os.time())
    if seconds < 1 then
      refuse(handle, "401", "The sign-in token has expired.\n")
      return
    end
    local secure = ""
    if string.sub(meta:get("origin"), 1, 6) == "https:" then
      secure = "; Secure"
    end
    handle:respond({[":status"] = "302", ["location"] = next,
                    ["cache-control"] = "no-store",
                    ["set-cookie"] = COOKIE .. "=" .. token .. "; Path=/; Max-Age=" ..
                      seconds .. "; HttpOnly; SameSite=Lax" .. secure}, "")
    return
  end
  if payload ~= nil then
    return
  end
  local method = headers:get(":method")
  if method ~= "GET" and method ~= "HEAD" then
    refuse(handle, "401", "This preview needs a sign-in: open it in a browser first.\n")
    return
  end
  local asked = meta:get("origin") .. target
  handle:respond({[":status"] = "302", ["cache-control"] = "no-store",
                  ["location"] = meta:get("authorize") .. "?" .. URL_PARAM .. "=" ..
                    encode(asked)}, "")
end
"""
for _placeholder, _value in {
    "@COOKIE@": preview.COOKIE_NAME,
    "@CALLBACK@": preview.CALLBACK_PATH,
    "@TOKEN_PARAM@": preview.CALLBACK_TOKEN_PARAM,
    "@NEXT_PARAM@": preview.CALLBACK_NEXT_PARAM,
    "@URL_PARAM@": preview.AUTHORIZE_URL_PARAM,
    "@JWT_FILTER@": JWT_FILTER,
}.items():
    LUA_SOURCE = LUA_SOURCE.replace(_placeholder, _value)

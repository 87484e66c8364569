/**
 * authorize: who may talk to whom, as plain function values over a verified peer's identity
 * (`authorizeID`, `authorizeOneOf`, `authorizeMemberOf`, prefixes, globs, DNS names) that compose
 * with `allOf`/`anyOf` — go-spiffe's authorizers in TypeScript. Pure: an authorizer never throws
 * a decision, never folds the case of a SPIFFE ID and never looks at anything but the identity.
 */
export {
  allOf,
  anyOf,
  authorizeAny,
  authorizeDnsName,
  authorizeID,
  authorizeMemberOf,
  authorizeOneOf,
  authorizeSpiffeGlob,
  authorizeSpiffePrefix,
  spiffeGlobMatcher,
  trustDomainOf,
  type AuthorizeResult,
  type Authorizer,
  type AuthorizeSubject,
} from './authorize.js';

/** The relying-party URLs written into certificates; src/http serves exactly these paths. */
export const crlUrl = (publicUrl: string, authorityId: string) => `${publicUrl}/pki/crl/${authorityId}.crl`;
export const deltaCrlUrl = (publicUrl: string, authorityId: string) => `${publicUrl}/pki/crl/${authorityId}-delta.crl`;
export const ocspUrl = (publicUrl: string, authorityId: string) => `${publicUrl}/pki/ocsp/${authorityId}`;
export const caIssuersUrl = (publicUrl: string, authorityId: string) => `${publicUrl}/pki/ca/${authorityId}.crt`;

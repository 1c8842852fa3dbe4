import { createContext, useContext } from 'react';
import type { Session } from '@switchyard/contracts';

export interface ConsoleSession extends Session {
  /** jobs:write (or admin): action buttons are shown. */
  canWrite: boolean;
  /** Admin keys may look at one tenant (`tenant=` on lists); '' is every tenant. */
  viewTenant: string;
  setViewTenant: (tenant: string) => void;
}

export const SessionContext = createContext<ConsoleSession | null>(null);

export function useSession(): ConsoleSession {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside the signed-in console');
  return session;
}

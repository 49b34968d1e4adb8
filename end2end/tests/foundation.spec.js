// The newcomer's story: first run, the first operator, an organization, an invited admin who
// adds a member, and a second admin who cannot see the first organization.
import { test, expect } from '@playwright/test';
import { PASSWORD, fieldError, hydrated, screenshots, signIn } from './helpers.js';

test.describe.configure({ mode: 'serial' });

let inviteLink;
let otherInviteLink;
let contosoPath;

test('the first-run link creates the first operator, with errors next to bad fields', async ({ page }) => {
  const firstRun = process.env.E2E_FIRST_RUN_URL;
  expect(firstRun).toMatch(/\/setup\/[A-Za-z0-9_-]{43}$/);
  await page.goto(firstRun);
  await hydrated(page);
  await expect(page.getByRole('heading', { name: 'Set up Gatehouse' })).toBeVisible();
  await expect(page.getByLabel('Email')).toBeVisible();
  await screenshots(page, 'first-run');

  await page.getByLabel('Email').fill('ops-at-vendor.example');
  await page.getByLabel('Your name').fill('Olivia Operator');
  await page.getByLabel('Password').fill('too short');
  await page.getByRole('button', { name: 'Create operator account' }).click();
  await expect(fieldError(page, 'email')).toContainText('needs an @');
  await expect(fieldError(page, 'password')).toContainText('at least 12 characters');
  await expect(page.getByLabel('Email')).toHaveAttribute('aria-invalid', 'true');

  await page.getByLabel('Email').fill('ops@vendor.example');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create operator account' }).click();
  await expect(page).toHaveURL(/\/console$/);
  await expect(page.getByRole('heading', { name: 'Organizations' })).toBeVisible();
  await expect(page.getByText('No organizations yet.')).toBeVisible();

  // The link works once.
  await page.goto(firstRun);
  await expect(page.getByRole('alert').filter({ hasText: 'expired or was already used' })).toBeVisible();
});

test('the operator creates Contoso and invites its admin', async ({ page }) => {
  await signIn(page, 'ops@vendor.example');
  await expect(page.getByRole('heading', { name: 'Organizations' })).toBeVisible();

  await page.getByLabel('Name', { exact: true }).fill('Contoso');
  await expect(page.getByLabel('Slug')).toHaveValue('contoso');
  await page.getByLabel('Slug').fill('Co');
  await page.getByRole('button', { name: 'Create organization' }).click();
  await expect(fieldError(page, 'slug')).toContainText('3 to 40 characters');

  await page.getByLabel('Slug').fill('contoso');
  await page.getByRole('button', { name: 'Create organization' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Organization “Contoso” created.' })).toBeVisible();
  await expect(page.getByText('Page 1 of 1')).toBeVisible();
  await expect(page.getByRole('button', { name: 'Next' })).toBeDisabled();
  await expect(page.getByRole('button', { name: 'Previous' })).toBeDisabled();
  await screenshots(page, 'organizations');
  await page.getByRole('link', { name: 'Contoso' }).click();
  await expect(page.getByRole('heading', { name: 'Contoso', level: 1 })).toBeVisible();
  contosoPath = new URL(page.url()).pathname;

  await page.getByLabel("Admin's email").fill('ada@contoso');
  await page.getByRole('button', { name: 'Create invite link' }).click();
  await expect(fieldError(page, 'invite-email')).toBeVisible();
  await expect(page.getByText('at least two parts')).toBeVisible();

  await page.getByLabel("Admin's email").fill('ada@contoso.com');
  await page.getByRole('button', { name: 'Create invite link' }).click();
  const link = page.locator('.copy-value code');
  await expect(link).toContainText('/invite/');
  inviteLink = await link.textContent();
  await screenshots(page, 'organization-operator');

  // A second organization with its own admin, for the isolation check.
  await page.getByRole('link', { name: 'Console' }).click();
  await page.getByLabel('Name', { exact: true }).fill('Fabrikam');
  await page.getByRole('button', { name: 'Create organization' }).click();
  await page.getByRole('link', { name: 'Fabrikam' }).click();
  await expect(page.getByRole('heading', { name: 'Fabrikam', level: 1 })).toBeVisible();
  await page.getByLabel("Admin's email").fill('mallory@fabrikam.com');
  await page.getByRole('button', { name: 'Create invite link' }).click();
  otherInviteLink = await page.locator('.copy-value code').textContent();

  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/signin$/);
  const session = await page.request.get('/api/v1/session');
  expect(session.status()).toBe(401);
});

test('the invited admin accepts, signs in and adds a member', async ({ page }) => {
  await page.goto(inviteLink);
  await hydrated(page);
  await expect(page.getByText('You are invited to administer Contoso as ada@contoso.com.')).toBeVisible();
  await screenshots(page, 'invite');
  await page.getByLabel('Your name').fill('Ada Admin');
  await page.getByLabel('Password').fill('short');
  await page.getByRole('button', { name: 'Accept and sign in' }).click();
  await expect(fieldError(page, 'password')).toContainText('at least 12 characters');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Accept and sign in' }).click();
  await expect(page).toHaveURL(new RegExp(`${contosoPath}$`));
  await expect(page.getByRole('heading', { name: 'Contoso', level: 1 })).toBeVisible();
  await expect(page.getByRole('heading', { name: 'Invite an admin' })).toHaveCount(0);

  // Sign out and back in with the password just set.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await signIn(page, 'ada@contoso.com');
  await expect(page).toHaveURL(new RegExp(`${contosoPath}$`));

  await page.getByLabel('Email', { exact: true }).fill('b.simon');
  await page.getByLabel('Display name').fill('');
  await page.getByRole('button', { name: 'Add member' }).click();
  await expect(fieldError(page, 'member-email')).toContainText('@');
  await expect(fieldError(page, 'member-display-name')).toContainText('Enter a name');

  await page.getByLabel('Email', { exact: true }).fill('B.Simon@contoso.com');
  await page.getByLabel('Display name').fill('B.Simon');
  await page.getByRole('button', { name: 'Add member' }).click();
  const row = page.getByRole('row').filter({ hasText: 'B.Simon@contoso.com' });
  await expect(row).toBeVisible();
  await expect(row).toContainText('member');

  // The same email again is refused next to the field.
  await page.getByLabel('Email', { exact: true }).fill('b.simon@CONTOSO.com');
  await page.getByLabel('Display name').fill('Again');
  await page.getByRole('button', { name: 'Add member' }).click();
  await expect(fieldError(page, 'member-email')).toContainText('already exists');

  // Disable B.Simon.
  await page.getByRole('button', { name: 'Edit B.Simon' }).click();
  await page.getByLabel('Status').selectOption('disabled');
  await page.getByRole('button', { name: 'Save member' }).click();
  await expect(row).toContainText('disabled');
  await screenshots(page, 'organization-admin');

  await page.getByRole('link', { name: 'Audit log' }).click();
  await expect(page.getByRole('heading', { name: 'Audit log' })).toBeVisible();
  const newest = page.getByRole('row').nth(1);
  await expect(newest).toContainText('member.update');
  await expect(newest).toContainText('admin:ada@contoso.com');
  await screenshots(page, 'audit');
});

test('another organization\'s admin cannot see Contoso', async ({ page }) => {
  await page.goto(otherInviteLink);
  await hydrated(page);
  await page.getByLabel('Your name').fill('Mallory');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Accept and sign in' }).click();
  await expect(page.getByRole('heading', { name: 'Fabrikam', level: 1 })).toBeVisible();
  await page.goto(contosoPath);
  await expect(page.getByRole('alert').filter({ hasText: 'does not exist, or you cannot see it' })).toBeVisible();
  await expect(page.getByText('B.Simon')).toHaveCount(0);
  const members = await page.request.get(`/api/v1${contosoPath.replace('/console/orgs', '/organizations')}/members`);
  expect(members.status()).toBe(404);
});

test('a setup link never takes over an existing account: its owner signs in first and claims it', async ({ page }) => {
  await signIn(page, 'ops@vendor.example');
  await expect(page.getByRole('heading', { name: 'Organizations' })).toBeVisible();
  await page.goto(contosoPath);
  await hydrated(page);
  await page.getByRole('button', { name: 'Create setup link' }).click();
  const setupLink = await page.locator('.copy-value', { hasText: 'Setup link' }).locator('code').textContent();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/signin$/);

  // Whoever holds the link types Ada's email: refused, with the way forward.
  await page.goto(setupLink);
  await hydrated(page);
  await page.getByLabel('Your work email').fill('ada@contoso.com');
  await page.getByLabel('Your name').fill('Not Ada');
  await page.getByLabel('Password').fill('Someone-Else-2026!');
  await page.getByRole('button', { name: 'Create account and continue' }).click();
  await expect(fieldError(page, 'email')).toContainText('Sign in as that account');

  // Ada signs in from the link's page and comes back to it.
  await page.getByRole('link', { name: 'Sign in first' }).click();
  await expect(page).toHaveURL(/\/signin\?return_to=/);
  await hydrated(page);
  await page.getByLabel('Email').fill('ada@contoso.com');
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByText('You are signed in as ada@contoso.com', { exact: false })).toBeVisible();
  await page.getByRole('button', { name: 'Make this account an admin and continue' }).click();
  await expect(page.getByRole('heading', { name: 'Step 1 of 6: Register Gatehouse in Entra' })).toBeVisible();

  // Her password is unchanged, the other one never worked.
  const refused = await page.request.post('/api/v1/session', {
    data: { email: 'ada@contoso.com', password: 'Someone-Else-2026!' },
    headers: { Origin: new URL(page.url()).origin },
  });
  expect(refused.status()).toBe(401);
});

test('sign-in works with the keyboard alone and failures do not say which part was wrong', async ({ page }) => {
  await page.goto('/signin');
  await hydrated(page);
  await screenshots(page, 'signin');
  await page.keyboard.press('Tab'); // skip link
  await page.keyboard.press('Tab'); // brand
  await page.keyboard.press('Tab');
  await expect(page.getByLabel('Email')).toBeFocused();
  await page.keyboard.type('ops@vendor.example');
  await page.keyboard.press('Enter');
  // Email first: no organization signs this domain in with a directory, so a password it is.
  await expect(page.getByLabel('Password')).toBeVisible();
  await expect(page.getByLabel('Password')).toBeFocused();
  await page.keyboard.type('wrong password!');
  await page.keyboard.press('Enter');
  await expect(page.getByRole('alert').filter({ hasText: 'The email or password is not right' })).toBeVisible();
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByLabel('Password').press('Enter');
  await expect(page).toHaveURL(/\/console$/);
});

<?php
/**
 * Plugin Name: Hosting mail
 * Description: Sends this site's email (password resets, notifications, contact forms) through the mail server set in the hosting portal. Installed and kept up to date by the portal; edits here are replaced at the next restart.
 * Version: 1.0.0
 *
 * The server comes from environment variables the portal sets on the container:
 * PORTAL_SMTP_HOST, PORTAL_SMTP_PORT, PORTAL_SMTP_TLS (none | starttls | tls), PORTAL_SMTP_USER,
 * PORTAL_SMTP_PASSWORD (from the instance's Secret) and PORTAL_SMTP_FROM. Without a host, WordPress is left as it is.
 */

if (!defined('ABSPATH')) {
    exit;
}

/** One setting from the environment, '' when unset. */
function portal_mail_setting($name)
{
    $value = getenv($name);
    return $value === false ? '' : trim($value);
}

/**
 * Point PHPMailer at the portal's server. Runs on `phpmailer_init`, after WordPress has filled in the message,
 * so the sender set here wins over `wordpress@<site>`: the server accepts only its own sender address, and a
 * Reply-To a plugin set is kept.
 */
function portal_mail_configure($phpmailer)
{
    $host = portal_mail_setting('PORTAL_SMTP_HOST');
    if ($host === '') {
        return;
    }
    $phpmailer->isSMTP();
    $phpmailer->Host = $host;
    $port = (int) portal_mail_setting('PORTAL_SMTP_PORT');
    $tls = strtolower(portal_mail_setting('PORTAL_SMTP_TLS'));
    if ($tls === 'tls') {
        $phpmailer->SMTPSecure = 'ssl';   // PHPMailer's name for TLS from the first byte (port 465)
        $phpmailer->SMTPAutoTLS = false;
        $phpmailer->Port = $port > 0 ? $port : 465;
    } elseif ($tls === 'none') {
        $phpmailer->SMTPSecure = '';
        $phpmailer->SMTPAutoTLS = false;  // never upgrade behind the operator's back
        $phpmailer->Port = $port > 0 ? $port : 25;
    } else {
        $phpmailer->SMTPSecure = 'tls';   // STARTTLS, required
        $phpmailer->SMTPAutoTLS = false;
        $phpmailer->Port = $port > 0 ? $port : 587;
    }
    $user = portal_mail_setting('PORTAL_SMTP_USER');
    $phpmailer->SMTPAuth = $user !== '';
    $phpmailer->Username = $user;
    $phpmailer->Password = $user !== '' ? (string) getenv('PORTAL_SMTP_PASSWORD') : '';
    $from = portal_mail_setting('PORTAL_SMTP_FROM');
    if ($from !== '') {
        $phpmailer->setFrom($from, $phpmailer->FromName, false);
        $phpmailer->Sender = $from;   // the envelope sender, which relays check as well
    }
}

add_action('phpmailer_init', 'portal_mail_configure');

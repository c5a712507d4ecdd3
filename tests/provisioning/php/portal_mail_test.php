<?php
// The WordPress mail plugin run for real under PHP, with WordPress's hook functions stubbed around it and a
// stand-in PHPMailer that records what the plugin sets. Usage: php portal_mail_test.php <plugin file>.
// Prints one line per case and exits 1 on the first failure.

define('ABSPATH', __DIR__ . '/');

$GLOBALS['portal_test_hooks'] = [];

function add_action($hook, $callback, $priority = 10, $accepted_args = 1)
{
    $GLOBALS['portal_test_hooks'][$hook][] = $callback;
    return true;
}

function add_filter($hook, $callback, $priority = 10, $accepted_args = 1)
{
    return add_action($hook, $callback, $priority, $accepted_args);
}

// WordPress passes the mailer by reference: do_action_ref_array('phpmailer_init', array(&$phpmailer)).
function do_action_ref_array($hook, $args)
{
    foreach ($GLOBALS['portal_test_hooks'][$hook] ?? [] as $callback) {
        call_user_func_array($callback, $args);
    }
}

class FakePHPMailer
{
    public $Mailer = 'mail';
    public $Host = 'localhost';
    public $Port = 25;
    public $SMTPSecure = '';
    public $SMTPAutoTLS = true;
    public $SMTPAuth = false;
    public $Username = '';
    public $Password = '';
    public $From = 'wordpress@example.test';
    public $FromName = 'My Site';
    public $Sender = '';
    public $fromCalls = [];

    public function isSMTP()
    {
        $this->Mailer = 'smtp';
    }

    public function setFrom($address, $name = '', $auto = true)
    {
        $this->fromCalls[] = [$address, $name, $auto];
        $this->From = $address;
        $this->FromName = $name;
        return true;
    }
}

$failures = 0;

function check($case, $label, $actual, $expected)
{
    global $failures;
    if ($actual !== $expected) {
        $failures++;
        fwrite(STDERR, "FAIL $case: $label is " . var_export($actual, true) . ', expected ' . var_export($expected, true) . "\n");
    }
}

function mailer_with($env)
{
    foreach (['PORTAL_SMTP_HOST', 'PORTAL_SMTP_PORT', 'PORTAL_SMTP_TLS', 'PORTAL_SMTP_USER', 'PORTAL_SMTP_PASSWORD',
              'PORTAL_SMTP_FROM'] as $name) {
        if (array_key_exists($name, $env)) {
            putenv("$name=" . $env[$name]);
        } else {
            putenv($name);
        }
    }
    $mailer = new FakePHPMailer();
    do_action_ref_array('phpmailer_init', [&$mailer]);
    return $mailer;
}

require $argv[1];

check('hooks', 'phpmailer_init callbacks', count($GLOBALS['portal_test_hooks']['phpmailer_init'] ?? []), 1);

$m = mailer_with(['PORTAL_SMTP_HOST' => 'relay.example.net', 'PORTAL_SMTP_PORT' => '587', 'PORTAL_SMTP_TLS' => 'starttls',
                  'PORTAL_SMTP_USER' => 'relay-user', 'PORTAL_SMTP_PASSWORD' => ' pa ss ', 'PORTAL_SMTP_FROM' => 'noreply@blog.example.net']);
check('starttls', 'Mailer', $m->Mailer, 'smtp');
check('starttls', 'Host', $m->Host, 'relay.example.net');
check('starttls', 'Port', $m->Port, 587);
check('starttls', 'SMTPSecure', $m->SMTPSecure, 'tls');
check('starttls', 'SMTPAutoTLS', $m->SMTPAutoTLS, false);
check('starttls', 'SMTPAuth', $m->SMTPAuth, true);
check('starttls', 'Username', $m->Username, 'relay-user');
check('starttls', 'Password', $m->Password, ' pa ss ');
check('starttls', 'From', $m->From, 'noreply@blog.example.net');
check('starttls', 'FromName', $m->FromName, 'My Site');
check('starttls', 'setFrom auto', $m->fromCalls[0][2] ?? null, false);
check('starttls', 'Sender', $m->Sender, 'noreply@blog.example.net');
echo "ok starttls\n";

$m = mailer_with(['PORTAL_SMTP_HOST' => 'smtp.customer.example', 'PORTAL_SMTP_PORT' => '465', 'PORTAL_SMTP_TLS' => 'tls',
                  'PORTAL_SMTP_USER' => 'me@customer.example', 'PORTAL_SMTP_PASSWORD' => 'secret',
                  'PORTAL_SMTP_FROM' => 'shop@customer.example']);
check('tls', 'Port', $m->Port, 465);
check('tls', 'SMTPSecure', $m->SMTPSecure, 'ssl');
check('tls', 'SMTPAuth', $m->SMTPAuth, true);
check('tls', 'From', $m->From, 'shop@customer.example');
echo "ok tls\n";

$m = mailer_with(['PORTAL_SMTP_HOST' => '203.0.113.7', 'PORTAL_SMTP_PORT' => '2525', 'PORTAL_SMTP_TLS' => 'none',
                  'PORTAL_SMTP_USER' => '', 'PORTAL_SMTP_PASSWORD' => 'ignored', 'PORTAL_SMTP_FROM' => '']);
check('none', 'Host', $m->Host, '203.0.113.7');
check('none', 'Port', $m->Port, 2525);
check('none', 'SMTPSecure', $m->SMTPSecure, '');
check('none', 'SMTPAutoTLS', $m->SMTPAutoTLS, false);
check('none', 'SMTPAuth', $m->SMTPAuth, false);
check('none', 'Password', $m->Password, '');
check('none', 'From', $m->From, 'wordpress@example.test');
check('none', 'setFrom calls', count($m->fromCalls), 0);
echo "ok none\n";

$m = mailer_with([]);
check('unset', 'Mailer', $m->Mailer, 'mail');
check('unset', 'Host', $m->Host, 'localhost');
check('unset', 'From', $m->From, 'wordpress@example.test');
echo "ok unset\n";

exit($failures ? 1 : 0);
